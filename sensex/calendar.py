"""BSE trading sessions (exchange_calendars "XBOM"), with a fallback past its recorded range.

exchange_calendars records XBOM holidays only up to a fixed year (2026 in 4.13) and raises for
any later date. Past that range we use weekdays minus the fixed-date holidays BSE closes for
every year (FIXED_HOLIDAYS) minus the holidays in CSV files that the user drops into
`$SENSEX_HOME/holidays/` (one `date` column, optional `description`; BSE publishes next year's
list each December, with the moving festivals). The fallback is announced by
`calendar_status(day)` for the dates in question (the stored data's, not today's) and shown in
`sensex data status` and the app, because the moving festivals are missing without a file.

The recorded range is the calendar's own bound, not exchange_calendars' default end (a year
from today), so every answer depends on the dates asked about, never on the day it is asked.

Before the recorded range (1997) plain weekdays are used too; that only matters for very old
history, where a missing weekday is reported but does not exclude a symbol.

Building the XBOM calendar costs seconds (every session since 1997); a forecast needs a few
dates. So the recorded sessions are built once per exchange_calendars version and kept in
`$SENSEX_HOME/cache/calendar/` as a JSON list of days: later processes read that list (a few
milliseconds) and never import exchange_calendars. The answers are the same (tests compare them).
"""

from __future__ import annotations

import json
import logging
import os
from datetime import datetime, time
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

IST = ZoneInfo("Asia/Kolkata")
# The close is 15:30 IST; Yahoo's daily bar settles within the hour after it.
SESSION_DATA_READY = time(16, 30)
RECORDED_START = pd.Timestamp("1997-01-01")
# (month, day) of the holidays BSE has closed for every year exchange_calendars records, when
# they fall on a weekday: Republic Day, Ambedkar Jayanti, Maharashtra Day, Independence Day,
# Gandhi Jayanti, Christmas (tests/unit/test_calendar.py checks this against the record).
FIXED_HOLIDAYS = ((1, 26), (4, 14), (5, 1), (8, 15), (10, 2), (12, 25))


def _xbom():
    # The class's bound, not the default end (min(today + 1 year, bound)): otherwise the recorded
    # range, and with it every fallback answer, would move with today's date.
    from exchange_calendars.exchange_calendar_xbom import XBOMExchangeCalendar

    return XBOMExchangeCalendar(start=RECORDED_START, end=XBOMExchangeCalendar.bound_max())


def _xbom_days() -> np.ndarray:
    """Every recorded XBOM session as days since 1970-01-01, from exchange_calendars (slow)."""
    found = pd.DatetimeIndex(_xbom().sessions).tz_localize(None)
    return found.values.astype("datetime64[D]").astype(np.int64)


def _session_file() -> Path:
    from importlib.metadata import version

    from sensex.settings import get_settings  # leaf import, resolved at call time

    return get_settings().cache_dir / "calendar" / f"XBOM-{version('exchange_calendars')}.json"


@lru_cache(maxsize=1)
def _recorded_sessions() -> np.ndarray:
    """The recorded sessions (datetime64[D], sorted): from the file cache, built once otherwise."""
    path = _session_file()
    try:
        days = json.loads(path.read_text())["days"]
        if days and days == sorted(days):
            return np.asarray(days, dtype=np.int64).astype("datetime64[D]")
    except (OSError, ValueError, KeyError, TypeError):
        pass  # absent or damaged: build it again
    days = _xbom_days()
    try:  # a read-only home only loses the speed-up
        path.parent.mkdir(parents=True, exist_ok=True)
        scratch = path.with_name(f".{path.name}.{os.getpid()}")
        scratch.write_text(json.dumps({"calendar": "XBOM", "days": days.tolist()}))
        os.replace(scratch, path)
    except OSError as exc:
        log.debug("Calendar cache %s not written: %s", path, exc)
    return days.astype("datetime64[D]")


def recorded_end() -> pd.Timestamp:
    """Last date for which exchange_calendars knows BSE holidays."""
    return pd.Timestamp(_recorded_sessions()[-1])


def _holiday_dirs() -> list[Path]:
    from sensex.settings import get_settings  # leaf import, resolved at call time

    return [get_settings().holidays_dir]


def holidays_signature() -> tuple:
    """What the user's holiday files look like now (folder, names, sizes, times): equal
    signatures give equal sessions, so a cached answer may be reused."""
    files = []
    for directory in _holiday_dirs():
        if directory.is_dir():
            for path in sorted(directory.glob("*.csv")):
                stat = path.stat()
                files.append((str(path), stat.st_size, stat.st_mtime_ns))
    return tuple(str(d) for d in _holiday_dirs()), tuple(files)


def extra_holidays() -> pd.DatetimeIndex:
    """Holidays from user-supplied files, used only past the recorded range."""
    dates: list[pd.Timestamp] = []
    for directory in _holiday_dirs():
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.csv")):
            try:
                table = pd.read_csv(path)
                dates.extend(pd.to_datetime(table["date"]).dt.normalize())
            except (KeyError, ValueError) as exc:
                log.warning("Ignoring holiday file %s (%s): it needs a 'date' column.", path, exc)
    return pd.DatetimeIndex(sorted(set(dates)))


def fixed_holidays(start: pd.Timestamp, end: pd.Timestamp) -> pd.DatetimeIndex:
    """FIXED_HOLIDAYS falling in [start, end]."""
    days = [pd.Timestamp(year, month, day) for year in range(start.year, end.year + 1) for month, day in FIXED_HOLIDAYS]
    return pd.DatetimeIndex([d for d in days if start <= d <= end])


def _weekday_sessions(start: pd.Timestamp, end: pd.Timestamp) -> pd.DatetimeIndex:
    days = pd.bdate_range(start, end)
    if start > recorded_end():  # before the record (1997) plain weekdays, as documented above
        days = days.difference(fixed_holidays(start, end))
    return days.difference(extra_holidays())


def sessions(start: str | pd.Timestamp, end: str | pd.Timestamp) -> pd.DatetimeIndex:
    """All BSE sessions in [start, end], inclusive."""
    start, end = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
    if end < start:
        return pd.DatetimeIndex([])
    parts = []
    if start < RECORDED_START:
        parts.append(_weekday_sessions(start, min(end, RECORDED_START - pd.Timedelta(days=1))))
    last = recorded_end()
    lo, hi = max(start, RECORDED_START), min(end, last)
    if lo <= hi:
        recorded = _recorded_sessions()
        first, stop = np.searchsorted(recorded, np.datetime64(lo.date()), "left"), np.searchsorted(
            recorded, np.datetime64(hi.date()), "right")
        parts.append(pd.DatetimeIndex(recorded[first:stop].astype("datetime64[ns]")))
    if end > last:
        parts.append(_weekday_sessions(max(start, last + pd.Timedelta(days=1)), end))
    out = parts[0]
    for part in parts[1:]:
        out = out.append(part)
    return pd.DatetimeIndex(out, name=None).unique().sort_values()


def is_session(day: str | pd.Timestamp) -> bool:
    day = pd.Timestamp(day).normalize()
    return len(sessions(day, day)) == 1


def next_session(day: str | pd.Timestamp) -> pd.Timestamp:
    """First session strictly after `day`."""
    day = pd.Timestamp(day).normalize()
    found = sessions(day + pd.Timedelta(days=1), day + pd.Timedelta(days=20))
    return found[0]


def previous_session(day: str | pd.Timestamp) -> pd.Timestamp:
    """Last session strictly before `day`."""
    day = pd.Timestamp(day).normalize()
    found = sessions(day - pd.Timedelta(days=20), day - pd.Timedelta(days=1))
    return found[-1]


def now_ist() -> datetime:
    return datetime.now(IST)


def last_completed_session(now: datetime | None = None) -> pd.Timestamp:
    """The latest session whose daily bar should exist by `now` (IST)."""
    now = (now or now_ist()).astimezone(IST)
    today = pd.Timestamp(now.date())
    if is_session(today) and now.time() >= SESSION_DATA_READY:
        return today
    return previous_session(today)


def is_stale(last_date: str | pd.Timestamp | None, now: datetime | None = None) -> bool:
    """Stale when the store lacks a session that has already completed."""
    if last_date is None:
        return True
    return pd.Timestamp(last_date).normalize() < last_completed_session(now)


def calendar_status(day: str | pd.Timestamp | None = None) -> dict:
    """Where the calendar's answers come from around `day` (default: today)."""
    day = pd.Timestamp(day).normalize() if day is not None else pd.Timestamp(now_ist().date())
    end = recorded_end()
    fallback = day > end
    holidays = extra_holidays()
    message = None
    if fallback:
        message = (
            f"BSE holidays are recorded only through {end.date()}: sessions after it are weekdays"
            f" minus the fixed-date holidays (Republic Day, Independence Day, ...) and {len(holidays)}"
            f" holidays from {_holiday_dirs()[0]}; add next year's BSE holiday list there as a CSV"
            " with a 'date' column."
        )
    return {
        "calendar": "XBOM",
        "recorded_through": str(end.date()),
        "fallback": fallback,
        "extra_holidays": len(holidays),
        "message": message,
    }
