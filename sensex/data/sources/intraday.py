"""Intraday 5-minute bars from Yahoo Finance, and the live quote made from them.

Live quotes are for people watching the session; they never enter the store, which keeps only
completed daily sessions (the next `sensex data update` fetches a completed session's daily bar).

`fetch_bars` asks yfinance once for the last few sessions of 5-minute bars of the index and the
members (the batch call `sensex.data.sources.yahoo` makes for daily bars, with `period` and `interval`).
`summarize` is pure: bars in, the live quote out, so tests play recorded frames back through it.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from sensex.data.sources import yahoo
from sensex.market.calendar import IST
from sensex.market.universe import Universe

log = logging.getLogger(__name__)

INTERVAL = "5m"
# The live session and the ones before it: the previous close when the store lacks it.
PERIOD = "5d"
FETCH_TIMEOUT = 20.0  # seconds: a live quote that takes longer is not live
BAR_COLUMNS = ["time", "symbol", "open", "high", "low", "close"]


def local_times(index: pd.Index) -> pd.DatetimeIndex:
    """Bar start times in IST. yfinance stamps intraday bars in the exchange's zone, or in UTC
    when tickers of several zones are mixed; a naive index (ignore_tz=True) is exchange-local."""
    times = pd.DatetimeIndex(pd.to_datetime(index, errors="coerce"))
    if times.tz is None:
        return times.tz_localize(IST)
    return times.tz_convert(IST)


def parse_bars(raw: pd.DataFrame | None, ticker_of: dict[str, str]) -> pd.DataFrame:
    """yfinance's intraday frame -> one row per (time, symbol) with OHLC; rows without a close go."""
    rows, _ = yahoo._long_form(raw, list(ticker_of.values()), stamps=local_times)
    if not len(rows):
        return pd.DataFrame(columns=BAR_COLUMNS)
    symbol_of = {ticker.upper(): symbol for symbol, ticker in ticker_of.items()}
    rows = rows.assign(symbol=rows["ticker"].map(symbol_of), time=rows["date"])
    rows = rows.dropna(subset=["symbol", "close", "time"])
    rows = rows[rows["close"] > 0]
    return rows[BAR_COLUMNS].sort_values(["symbol", "time"]).reset_index(drop=True)


def fetch_bars(universe: Universe, downloader: yahoo.Downloader | None = None, exchange: str = "BO",
               timeout: float = FETCH_TIMEOUT) -> pd.DataFrame:
    """5-minute bars of the index and the members over the last PERIOD; raises what yfinance
    raises, or TimeoutError after `timeout` seconds."""
    download = downloader or yahoo.default_downloader
    ticker_of = {symbol: universe.yahoo_symbol(symbol, exchange) for symbol in universe.all_symbols}
    raw = yahoo._within(timeout, lambda: download(
        list(ticker_of.values()), period=PERIOD, interval=INTERVAL, auto_adjust=False, actions=False,
        group_by="column", threads=True, progress=False, prepost=False))
    return parse_bars(raw, ticker_of)


def _change(last: float, previous: float | None) -> tuple[float | None, float | None]:
    if previous is None or not np.isfinite(previous) or previous <= 0:
        return None, None
    return float(last - previous), float((last / previous - 1.0) * 100)


def summarize(bars: pd.DataFrame, universe: Universe, previous_closes: dict[str, float] | None = None
              ) -> tuple[dict | None, str | None]:
    """(live quote, None), or (None, one-sentence reason) when the bars hold no SENSEX session.

    The live session is the index's latest date in the bars. Its change is against
    `previous_closes` (the stored daily closes of the session before, exact) or, for a symbol the
    store lacks, the last bar of the previous day in `bars` (the bar's close, near the official one).
    A member without a bar on the live session is listed in `missing_members`, not in breadth.
    """
    index_bars = bars[bars["symbol"] == universe.index_symbol]
    if index_bars.empty:
        return None, (f"Yahoo Finance returned no intraday bars for the {universe.name} index"
                      f" ({universe.index_yahoo}): showing the last stored close instead.")
    dates = bars["time"].dt.date
    session = index_bars["time"].dt.date.max()
    previous_closes = previous_closes or {}

    def previous_close(symbol: str) -> float | None:
        if symbol in previous_closes:
            return float(previous_closes[symbol])
        before = bars[(bars["symbol"] == symbol) & (dates < session)]
        return float(before["close"].iloc[-1]) if len(before) else None

    today = index_bars[index_bars["time"].dt.date == session]
    level = float(today["close"].iloc[-1])
    change, change_pct = _change(level, previous_close(universe.index_symbol))
    on_session = bars[dates == session]
    last = on_session.groupby("symbol")["close"].last()
    members, missing = [], []
    for member in universe.members:
        if member.symbol not in last.index:
            missing.append(member.symbol)
            continue
        price = float(last[member.symbol])
        _, pct = _change(price, previous_close(member.symbol))
        members.append({"symbol": member.symbol, "name": member.name, "sector": member.sector,
                        "last": price, "change_pct": pct})
    moves = [m["change_pct"] for m in members if m["change_pct"] is not None]
    return {
        "level": level,
        "change": change,
        "change_pct": change_pct,
        # yfinance stamps a bar with its start: the level is the close of the bar that started then.
        "as_of": today["time"].iloc[-1].isoformat(timespec="seconds"),
        "session": str(session),
        "interval": INTERVAL,
        "bars": [{"time": t.isoformat(timespec="seconds"), "open": _number(o), "high": _number(h),
                  "low": _number(lo), "close": float(c)}
                 for t, o, h, lo, c in today[["time", "open", "high", "low", "close"]].itertuples(index=False)],
        "members": members,
        "missing_members": missing,
        "breadth": {"advancing": sum(x > 0 for x in moves), "declining": sum(x < 0 for x in moves),
                    "unchanged": sum(x == 0 for x in moves), "missing": len(universe.members) - len(moves)},
        "source": "yfinance",
    }, None


def _number(value: float) -> float | None:
    return None if pd.isna(value) else float(value)
