"""Which universes a dashboard can show for one SENSEX_HOME, and whether each has data there.

The store keys rows by symbol, not by universe, so a universe "has data" when its index's rows are
stored (a shared member says nothing: RELIANCE is in SENSEX and NIFTY 50). A universe file that
is neither shipped nor the one a process was started with cannot be found from the store alone:
the rows do not say which file named them.
"""

from __future__ import annotations

from sensex.core.settings import Settings
from sensex.data import store
from sensex.market.universe import SHIPPED, Universe, load_universe


def _describe(universe: Universe, stored: dict, started: bool) -> dict:
    index = stored.get(universe.index_symbol) or {}
    members = sum(symbol in stored for symbol in universe.symbols)
    return {
        "spec": universe.spec,
        "key": universe.key,
        "name": universe.name,
        "index_symbol": universe.index_symbol,
        "exchange": universe.exchange,
        "members": len(universe.symbols),
        "stored_members": members,
        "has_data": bool(index),
        "last_date": index.get("last"),
        "started": started,
    }


def universe_choices(settings: Settings) -> list[dict]:
    """The universe `settings` names (the one the process was started with) first, then the shipped
    ones: spec (what `--universe` takes), name, index, exchange, member counts, whether the store
    holds its index and up to when. Universes with data come before those without."""
    stored = (store.read_meta(settings.store_dir) or {}).get("symbols") or {}
    started = load_universe(settings.universe)
    choices = [_describe(started, stored, True)]
    for name in SHIPPED:
        universe = load_universe(name)
        if universe.key != started.key:
            choices.append(_describe(universe, stored, False))
    return choices[:1] + sorted(choices[1:], key=lambda c: not c["has_data"])
