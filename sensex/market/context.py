"""Context series: foreign markets the store keeps beside the universe, on their own calendars.

A context series is not a member of any universe and never enters the index; it only informs
a forecast (the pre-open mode reads the S&P 500's overnight session). Each one trades on its
own exchange's calendar, so its dates are that exchange's local calendar dates (New York for
the S&P 500), never UTC timestamps: the S&P 500 session dated d closes at 16:00 New York time,
which is 01:30 or 02:30 IST on d + 1, after BSE's close on d and before BSE opens on d + 1.

The one matching rule, used by the synthetic market and by the pre-open features alike:
at BSE's open on date D, the closes known are those dated strictly before D
(`last_known_before`).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from sensex.core.errors import ConfigError

log = logging.getLogger(__name__)

# exchange_calendars derives NYSE holidays from rules, so a long fixed range costs nothing and
# keeps every answer independent of today's date.
CALENDAR_START = pd.Timestamp("1990-01-01")
CALENDAR_END = pd.Timestamp("2050-12-31")


@dataclass(frozen=True)
class ContextSeries:
    symbol: str  # the store's symbol
    yahoo: str  # the symbol yfinance knows it by
    name: str
    calendar: str  # exchange_calendars name of the exchange it trades on
    file_names: tuple[str, ...]  # CSV files the csv source imports it from (in the members' folder)


SP500 = ContextSeries(
    symbol="SP500", yahoo="^GSPC", name="S&P 500", calendar="XNYS", file_names=("GSPC.csv", "^GSPC.csv")
)
CONTEXT_SERIES: tuple[ContextSeries, ...] = (SP500,)


def get(symbol: str) -> ContextSeries:
    for series in CONTEXT_SERIES:
        if symbol in (series.symbol, series.yahoo):
            return series
    known = ", ".join(s.symbol for s in CONTEXT_SERIES)
    raise ConfigError(f"Unknown context series {symbol!r}: use one of {known}.")


def is_context(symbol: str) -> bool:
    return any(symbol == s.symbol for s in CONTEXT_SERIES)


@lru_cache(maxsize=4)
def _exchange(name: str):
    import exchange_calendars as xcals  # slow to import: only the pre-open mode and imports need it

    return xcals.get_calendar(name, start=CALENDAR_START, end=CALENDAR_END)


def _calendar_file(name: str) -> Path:
    from importlib.metadata import version

    from sensex.core.settings import get_settings  # leaf import, resolved at call time

    return get_settings().cache_dir / "calendar" / f"{name}-{version('exchange_calendars')}.json"


@lru_cache(maxsize=4)
def _recorded(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(sessions as datetime64[D], their closes as UTC datetime64[m]), both sorted, from
    CALENDAR_START to CALENDAR_END. Building an exchange_calendars calendar costs seconds, and
    its first minute question (`previous_close`) ~140 MB of minute indexes; so, as for BSE's
    sessions (`sensex.market.calendar`), the answer is built once per exchange_calendars version and kept
    in `$SENSEX_HOME/cache/calendar/` (a few milliseconds to read; tests compare the answers)."""
    path = _calendar_file(name)
    span = [str(CALENDAR_START.date()), str(CALENDAR_END.date())]
    try:
        raw = json.loads(path.read_text())
        days, closes = raw["days"], raw["closes"]
        whole = all(isinstance(v, int) and not isinstance(v, bool) and abs(v) < 2**62 for v in (*days, *closes))
        if (raw["span"] == span and whole and len(days) == len(closes) and days and days == sorted(days)
                and closes == sorted(closes)):
            return (np.asarray(days, dtype=np.int64).astype("datetime64[D]"),
                    np.asarray(closes, dtype=np.int64).astype("datetime64[m]"))
    except (OSError, ValueError, KeyError, TypeError, OverflowError, RecursionError):
        pass  # absent or damaged (a float, a huge number, a nesting json cannot read): build it again
    exchange = _exchange(name)
    days = pd.DatetimeIndex(exchange.sessions).tz_localize(None).values.astype("datetime64[D]")
    closes = pd.DatetimeIndex(exchange.closes).tz_convert("UTC").tz_localize(None).values.astype("datetime64[m]")
    try:  # a read-only home only loses the speed-up
        path.parent.mkdir(parents=True, exist_ok=True)
        scratch = path.with_name(f".{path.name}.{os.getpid()}")
        scratch.write_text(json.dumps({"calendar": name, "span": span, "days": days.astype(np.int64).tolist(),
                                       "closes": closes.astype(np.int64).tolist()}))
        os.replace(scratch, path)
    except OSError as exc:
        log.debug("Calendar cache %s not written: %s", path, exc)
    return days, closes


def sessions(series: ContextSeries, start: str | pd.Timestamp, end: str | pd.Timestamp) -> pd.DatetimeIndex:
    """The series' exchange sessions in [start, end] (local dates, tz-naive midnights)."""
    start = max(pd.Timestamp(start).normalize(), CALENDAR_START)
    end = min(pd.Timestamp(end).normalize(), CALENDAR_END)
    if end < start:
        return pd.DatetimeIndex([])
    days = _recorded(series.calendar)[0]
    first = np.searchsorted(days, np.datetime64(start.date()), "left")
    stop = np.searchsorted(days, np.datetime64(end.date()), "right")
    return pd.DatetimeIndex(days[first:stop].astype("datetime64[ns]"))


def previous_close(series: ContextSeries, minute: pd.Timestamp) -> pd.Timestamp:
    """The series' last session close strictly before `minute` (an aware time), in UTC, as
    exchange_calendars' `previous_close` answers it (early closes included)."""
    closes = _recorded(series.calendar)[1]
    instant = np.datetime64(pd.Timestamp(minute).tz_convert("UTC").tz_localize(None).to_datetime64(), "ns")
    position = np.searchsorted(closes.astype("datetime64[ns]"), instant, "left") - 1
    if position < 0:
        raise ValueError(f"{minute} is before the first {series.calendar} close the calendar holds ({CALENDAR_START.date()}).")
    return pd.Timestamp(closes[position]).tz_localize("UTC")


def last_session_before(series: ContextSeries, day: str | pd.Timestamp) -> pd.Timestamp:
    """The series' last exchange session dated strictly before `day`."""
    day = pd.Timestamp(day).normalize()
    return sessions(series, day - pd.Timedelta(days=20), day - pd.Timedelta(days=1))[-1]


def last_known_before(series_dates: np.ndarray | pd.DatetimeIndex, days: np.ndarray | pd.DatetimeIndex) -> np.ndarray:
    """For each of `days`, the position in sorted `series_dates` of the last date strictly before it.

    -1 where no date of the series comes before. This is the no-look-ahead rule: a close dated
    d is known before BSE opens on D exactly when d < D (both exchange-local calendar dates).
    """
    series_dates = np.asarray(pd.DatetimeIndex(series_dates).values)
    days = np.asarray(pd.DatetimeIndex(days).values)
    return np.searchsorted(series_dates, days, side="left") - 1
