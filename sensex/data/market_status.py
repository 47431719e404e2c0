"""The market right now: the clock, the live SENSEX when online, the last stored close always.

What `sensex market` prints, `GET /market/clock` serves and the dashboard's chip and intraday
chart show. The live quote is cached for the price TTL (5 minutes) in the project's cache
(memory or Redis), reasons included, so neither an offline machine nor a busy dashboard asks
Yahoo more than once per TTL. Live prices are never written to the store.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

import pandas as pd

from sensex.core.settings import Settings
from sensex.data import store
from sensex.data.sources import intraday, yahoo
from sensex.market import calendar
from sensex.market import clock as market_clock
from sensex.market.universe import Universe

log = logging.getLogger(__name__)


def _offline_sentence(settings: Settings) -> str | None:
    """Why live quotes are off by configuration, or None when they may be fetched."""
    if settings.data_source in ("csv", "synthetic"):
        return (f"Live quotes are off because SENSEX_DATA_SOURCE is {settings.data_source}: set it to auto or"
                " yfinance to see the SENSEX during the session.")
    meta = store.read_meta(settings.store_dir) or {}
    if meta.get("synthetic") or meta.get("source") == "synthetic":
        return ("Live quotes are off because the stored prices are the SYNTHETIC market: real live prices beside"
                " them would mislead; run `sensex data update --source yfinance` for real data.")
    return None


def _previous_closes(settings: Settings, universe: Universe, session: str) -> dict[str, float]:
    """The stored daily closes of the session before the live one (empty when not stored)."""
    if not store.exists(settings.store_dir):
        return {}
    before = calendar.previous_session(session)
    rows = store.read(settings.store_dir, symbols=universe.all_symbols, start=before, end=before)
    return {str(s): float(c) for s, c in zip(rows["symbol"], rows["close"], strict=True) if c > 0}


def fetch_live(settings: Settings, universe: Universe, downloader: yahoo.Downloader | None = None,
               reachable: Callable[[], bool] | None = None) -> dict:
    """{"live": quote or None, "reason": None or one sentence}: one fetch, no cache."""
    if not (reachable or yahoo.is_reachable)():
        return {"live": None, "reason": "Yahoo Finance is unreachable (offline?): showing the last stored close;"
                                        " live quotes come back when the network does."}
    try:
        bars = intraday.fetch_bars(universe, downloader)
    except TimeoutError:
        return {"live": None, "reason": f"Yahoo Finance did not answer within {intraday.FETCH_TIMEOUT:g} s:"
                                        " showing the last stored close; retry in a few minutes."}
    except Exception as error:  # noqa: BLE001 - yfinance raises anything; all mean "no live quote"
        log.warning("Live quote failed: %s", yahoo._one_line(error))
        return {"live": None, "reason": f"Yahoo Finance failed ({yahoo._one_line(error, 120)}): showing the last"
                                        " stored close; retry in a few minutes."}
    session = str(bars.loc[bars["symbol"] == universe.index_symbol, "time"].max().date()) if len(bars) else None
    previous = _previous_closes(settings, universe, session) if session else {}
    live, reason = intraday.summarize(bars, universe, previous)
    return {"live": live, "reason": reason}


def live_quote(settings: Settings, universe: Universe, cache=None, downloader: yahoo.Downloader | None = None,
               reachable: Callable[[], bool] | None = None) -> tuple[dict | None, str | None]:
    """(live quote, None) or (None, reason), cached for PRICE_TTL seconds (the outcome, reasons too)."""
    from sensex.core.cache import PRICE_TTL, cached, get_cache

    reason = _offline_sentence(settings)
    if reason is not None:
        return None, reason
    cache = cache if cache is not None else get_cache(settings)
    outcome = cached(cache, f"live:{universe.name}:{universe.index_yahoo}", PRICE_TTL,
                     lambda: fetch_live(settings, universe, downloader, reachable))
    return outcome["live"], outcome["reason"]


def last_stored_close(settings: Settings, universe: Universe) -> dict | None:
    """The index's last stored daily close and its change, labelled as stored (None when empty)."""
    if not store.exists(settings.store_dir):
        return None
    rows = store.read(settings.store_dir, symbols=[universe.index_symbol])
    rows = rows[rows["close"] > 0].sort_values("date").drop_duplicates("date", keep="last")
    if rows.empty:
        return None
    level = float(rows["close"].iloc[-1])
    previous = float(rows["close"].iloc[-2]) if len(rows) > 1 else None
    meta = store.read_meta(settings.store_dir) or {}
    return {
        "date": str(pd.Timestamp(rows["date"].iloc[-1]).date()),
        "level": level,
        "change": None if previous is None else level - previous,
        "change_pct": None if previous is None else (level / previous - 1.0) * 100,
        "source": meta.get("source"),
        "synthetic": bool(meta.get("synthetic")),
    }


def market_status(settings: Settings, universe: Universe, now: datetime | None = None, cache=None,
                  downloader: yahoo.Downloader | None = None, reachable: Callable[[], bool] | None = None,
                  modes: tuple[str, ...] = ("close", "preopen")) -> dict:
    """The contract of `sensex market --json` and `GET /market/clock`: `clock`, `live`,
    `live_reason` (None when live is there), `last_close`, `preferred_mode`."""
    reading = market_clock.read_clock(now)
    live, reason = live_quote(settings, universe, cache, downloader, reachable)
    clock = reading.to_dict()
    clock["description"] = market_clock.describe(reading)
    return {
        "clock": clock,
        "live": live,
        "live_reason": reason,
        "last_close": last_stored_close(settings, universe),
        "preferred_mode": market_clock.preferred_mode(reading, modes),
        "calendar": calendar.calendar_status(reading.session.date) if reading.calendar_fallback else None,
    }


def render(status: dict) -> str:
    """`sensex market` for people: the clock's sentence, then the live level or the stored close."""
    lines = [status["clock"]["description"]]
    session = status["clock"]["session"]
    lines.append(f"Session {session['date']}: {session['open'][11:16]}-{session['close'][11:16]} IST;"
                 f" last completed {status['clock']['last_completed']['date']}.")
    live = status["live"]
    if live is not None:
        change = "" if live["change"] is None else f" {live['change']:+,.2f} ({live['change_pct']:+.2f}%)"
        breadth = live["breadth"]
        lines.append(f"SENSEX live {live['level']:,.2f}{change} as of {live['as_of']} ({len(live['bars'])} bars of"
                     f" {live['interval']}); advancing {breadth['advancing']}, declining {breadth['declining']}"
                     f"{', no quote for ' + str(breadth['missing']) if breadth['missing'] else ''}.")
    else:
        lines.append(f"No live quote: {status['live_reason']}")
    last = status["last_close"]
    if last is not None:
        change = "" if last["change"] is None else f" {last['change']:+,.2f} ({last['change_pct']:+.2f}%)"
        label = "SYNTHETIC " if last["synthetic"] else ""
        lines.append(f"Last stored {label}close: {last['level']:,.2f}{change} on {last['date']}.")
    else:
        lines.append("Nothing is stored yet: run `sensex data update`.")
    if status["preferred_mode"] == "preopen":
        lines.append("The S&P 500 has closed since BSE's last close: the pre-open forecast is the one to read"
                     " first (`sensex predict --mode preopen`, once a pre-open model is in production).")
    return "\n".join(lines)
