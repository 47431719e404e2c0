"""Index members as data: symbol, Yahoo symbols, name, sector, weight.

The default file holds today's SENSEX members (late 2024). Using today's members for past
dates is survivorship bias: backtests look better than a point-in-time universe would.
Optional `member_since` / `member_until` columns (YYYY-MM-DD) make the universe point-in-time:
outside those dates a member is masked as absent in the model's input. The shipped file leaves
them empty because we could not verify BSE's historical inclusion dates; fill them in where known.
Another index (NIFTY 50, ...) is another CSV with the same columns, passed as `--universe`.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pandas as pd

from sensex.errors import ConfigError
from sensex.schema import INDEX_SYMBOL

REQUIRED = ["symbol", "yahoo_bo", "yahoo_ns", "name", "sector", "weight"]
INDEX_YAHOO = "^BSESN"


@dataclass(frozen=True)
class Member:
    symbol: str
    yahoo_bo: str
    yahoo_ns: str
    name: str
    sector: str
    weight: float
    member_since: str | None = None  # first session in the index, when known
    member_until: str | None = None  # last session in the index, when known


@dataclass(frozen=True)
class Universe:
    name: str
    index_symbol: str
    index_yahoo: str
    members: tuple[Member, ...]

    @property
    def symbols(self) -> list[str]:
        """Member symbols in model order: grouped by sector, so convolutions see sector peers."""
        return [m.symbol for m in self.members]

    @property
    def all_symbols(self) -> list[str]:
        return self.symbols + [self.index_symbol]

    def membership(self) -> dict[str, tuple[str | None, str | None]]:
        """symbol -> (member_since, member_until) for members whose dates are known."""
        return {m.symbol: (m.member_since, m.member_until) for m in self.members
                if m.member_since or m.member_until}

    def sector_of(self, symbol: str) -> str:
        return next(m.sector for m in self.members if m.symbol == symbol)

    def yahoo_symbol(self, symbol: str, exchange: str = "BO") -> str:
        if symbol == self.index_symbol:
            return self.index_yahoo
        member = next(m for m in self.members if m.symbol == symbol)
        return member.yahoo_ns if exchange.upper() == "NS" else member.yahoo_bo


def load_universe(path: str | Path | None = None) -> Universe:
    if path is None:
        source = resources.files("sensex") / "data" / "sensex_members.csv"
        with resources.as_file(source) as default_path:
            table = pd.read_csv(default_path)
        name = "SENSEX"
    else:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"Universe file {path} does not exist: pass a CSV with {REQUIRED}.")
        table = pd.read_csv(path)
        name = path.stem.upper()
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        raise ConfigError(f"Universe file lacks columns {missing}: it needs {REQUIRED}.")
    if table["symbol"].duplicated().any():
        raise ConfigError("Universe file lists a symbol twice: keep one row per member.")
    for column in ("member_since", "member_until"):
        if column not in table.columns:
            table[column] = None
        try:
            parsed = pd.to_datetime(table[column], errors="raise")
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"Universe column {column} has a value that is not a date ({exc}): use YYYY-MM-DD.") from exc
        table[column] = [None if pd.isna(d) else str(d.date()) for d in parsed]
    table = table.sort_values(["sector", "symbol"], kind="stable")
    members = tuple(
        Member(
            symbol=str(r.symbol),
            yahoo_bo=str(r.yahoo_bo),
            yahoo_ns=str(r.yahoo_ns),
            name=str(r.name),
            sector=str(r.sector),
            weight=float(r.weight),
            member_since=r.member_since,
            member_until=r.member_until,
        )
        for r in table.itertuples(index=False)
    )
    return Universe(name=name, index_symbol=INDEX_SYMBOL, index_yahoo=INDEX_YAHOO, members=members)
