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
The file is checked when read (a list of whole days, strictly increasing, from 1997, plausibly
many): anything else, however it got there, is rebuilt from exchange_calendars and rewritten.
A holiday file that cannot be read (not CSV, a field over the csv module's limit, NUL bytes) is
ignored with a warning naming it.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from datetime import date, datetime, time
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

IST = ZoneInfo("Asia/Kolkata")
# The close is 15:30 IST; Yahoo's daily bar settles within the hour after it.
SESSION_DATA_READY = time(16, 30)
RECORDED_START = datetime(1997, 1, 1)  # naive midnight: compares with pd.Timestamp
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
    import pandas as pd

    found = pd.DatetimeIndex(_xbom().sessions).tz_localize(None)
    return found.values.astype("datetime64[D]").astype(np.int64)


def _session_file() -> Path:
    from importlib.metadata import version

    from sensex.core.settings import get_settings  # leaf import, resolved at call time

    return get_settings().cache_dir / "calendar" / f"XBOM-{version('exchange_calendars')}.json"


MAX_CACHE_BYTES = 1 << 20  # the session list is ~100 KB
FIRST_RECORDED_DAY = (RECORDED_START - datetime(1970, 1, 1)).days
MIN_RECORDED_SESSIONS = 5000  # 1997 to 2026 holds ~7,300 sessions


def _cached_days(path: Path) -> np.ndarray | None:
    """The session days in the cache file when it is what `_recorded_sessions` writes, else None
    (absent: quietly; damaged or foreign: with a warning)."""
    try:
        if path.stat().st_size > MAX_CACHE_BYTES:
            raise ValueError("larger than a session list")
        data = json.loads(path.read_bytes(), parse_constant=lambda name: None)
        days = data["days"] if isinstance(data, dict) else None
        if not (isinstance(days, list) and len(days) >= MIN_RECORDED_SESSIONS
                and all(type(day) is int for day in days)):
            raise ValueError("not a list of whole days")
        found = np.asarray(days, dtype=np.int64)
        if found[0] < FIRST_RECORDED_DAY or not (np.diff(found) > 0).all() or found[-1] > FIRST_RECORDED_DAY + 60_000:
            raise ValueError("not increasing days from 1997")
        return found.astype("datetime64[D]")
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
        log.warning("Rebuilding the calendar cache %s (%s: %s).", path, type(exc).__name__, str(exc)[:80])
        return None


@lru_cache(maxsize=1)
def _recorded_sessions() -> np.ndarray:
    """The recorded sessions (datetime64[D], sorted): from the file cache, built once otherwise."""
    path = _session_file()
    cached = _cached_days(path)
    if cached is not None:
        return cached
    days = _xbom_days()
    try:  # a read-only home only loses the speed-up
        path.parent.mkdir(parents=True, exist_ok=True)
        scratch = path.with_name(f".{path.name}.{os.getpid()}")
        scratch.write_text(json.dumps({"calendar": "XBOM", "days": days.tolist()}))
        os.replace(scratch, path)
    except OSError as exc:
        log.debug("Calendar cache %s not written: %s", path, exc)
    return days.astype("datetime64[D]")


def repair_cache() -> Path | None:
    """Rebuild the session cache file when it exists but is damaged (`sensex registry doctor`);
    returns its path when it was rebuilt, None when there was nothing to repair."""
    path = _session_file()
    if not path.exists() or _cached_days(path) is not None:
        return None
    _recorded_sessions.cache_clear()
    _recorded_sessions()
    return path


def recorded_end() -> pd.Timestamp:
    """Last date for which exchange_calendars knows BSE holidays."""
    import pandas as pd

    return pd.Timestamp(recorded_end_day())


def recorded_end_day() -> datetime:
    """`recorded_end()` as a naive midnight `datetime`, without pandas."""
    return midnight(_recorded_sessions()[-1].item())


def _holiday_dirs() -> list[Path]:
    from sensex.core.settings import get_settings  # leaf import, resolved at call time

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


def _holiday_file_days(path: Path) -> list[np.datetime64]:
    """The dates in one holiday file: YYYY-MM-DD read directly; any other spelling BSE's lists
    use ("26-Jan-2027", "January 26, 2027") through pandas, imported only for such a file."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = csv.DictReader(handle)
        if "date" not in (rows.fieldnames or []):
            raise KeyError("date")
        values = [row["date"].strip() for row in rows if (row["date"] or "").strip()]
    try:
        return [np.datetime64(date.fromisoformat(value), "D") for value in values]
    except ValueError:
        import pandas as pd

        return list(pd.to_datetime(pd.Series(values)).dt.normalize().to_numpy().astype("datetime64[D]"))


@lru_cache(maxsize=8)
def _extra_holiday_days(signature: tuple) -> np.ndarray:
    days: list[np.datetime64] = []
    for directory in _holiday_dirs():
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.csv")):
            try:
                days.extend(_holiday_file_days(path))
            except (KeyError, ValueError, UnicodeDecodeError, csv.Error, OSError, OverflowError) as exc:
                log.warning("Ignoring holiday file %s (%s: %s): it needs a 'date' column of dates.", path,
                            type(exc).__name__, str(exc)[:80])
    return np.unique(np.asarray(days, dtype="datetime64[D]"))


def extra_holiday_days() -> np.ndarray:
    """Holidays from user-supplied files (datetime64[D], sorted), used only past the recorded
    range; read again whenever the files change (`holidays_signature`)."""
    return _extra_holiday_days(holidays_signature())


def extra_holidays() -> pd.DatetimeIndex:
    """`extra_holiday_days()` as a DatetimeIndex."""
    import pandas as pd

    return pd.DatetimeIndex(extra_holiday_days().astype("datetime64[ns]"))


def fixed_holidays(start: pd.Timestamp, end: pd.Timestamp) -> pd.DatetimeIndex:
    """FIXED_HOLIDAYS falling in [start, end]."""
    import pandas as pd

    return pd.DatetimeIndex(_fixed_holiday_days(_day(start), _day(end)).astype("datetime64[ns]"))


def _fixed_holiday_days(start: np.datetime64, end: np.datetime64) -> np.ndarray:
    first, last = start.item().year, end.item().year
    days = np.array([np.datetime64(date(year, month, day), "D") for year in range(first, last + 1)
                     for month, day in FIXED_HOLIDAYS], dtype="datetime64[D]")
    return days[(days >= start) & (days <= end)]


def _weekday_days(start: np.datetime64, end: np.datetime64) -> np.ndarray:
    days = np.arange(start, end + 1, dtype="datetime64[D]")
    days = days[np.is_busday(days)]
    if start > _recorded_sessions()[-1]:  # before the record (1997) plain weekdays, as documented above
        days = np.setdiff1d(days, _fixed_holiday_days(start, end))
    return np.setdiff1d(days, extra_holiday_days())


def _day(value) -> np.datetime64:
    """A date, datetime, pd.Timestamp or 'YYYY-MM-DD...' string as datetime64[D] (its date)."""
    if isinstance(value, np.datetime64):
        return value.astype("datetime64[D]")
    if isinstance(value, str):
        return np.datetime64(date.fromisoformat(value.strip()[:10]), "D")
    return np.datetime64(date(value.year, value.month, value.day), "D")


def midnight(value) -> datetime:
    """The day of `value` as a naive midnight `datetime`: compares with pd.Timestamp, needs no pandas."""
    day = _day(value).item()
    return datetime(day.year, day.month, day.day)


def session_days(start, end) -> np.ndarray:
    """All BSE sessions in [start, end], inclusive, as sorted datetime64[D]; no pandas."""
    start, end = _day(start), _day(end)
    if end < start:
        return np.array([], dtype="datetime64[D]")
    recorded = _recorded_sessions()
    first_recorded, last_recorded = _day(RECORDED_START), recorded[-1]
    parts = []
    if start < first_recorded:
        parts.append(_weekday_days(start, min(end, first_recorded - 1)))
    lo, hi = max(start, first_recorded), min(end, last_recorded)
    if lo <= hi:
        parts.append(recorded[np.searchsorted(recorded, lo, "left"):np.searchsorted(recorded, hi, "right")])
    if end > last_recorded:
        parts.append(_weekday_days(max(start, last_recorded + 1), end))
    return np.unique(np.concatenate(parts)) if parts else np.array([], dtype="datetime64[D]")


def sessions(start: str | pd.Timestamp, end: str | pd.Timestamp) -> pd.DatetimeIndex:
    """All BSE sessions in [start, end], inclusive."""
    import pandas as pd

    return pd.DatetimeIndex(session_days(start, end).astype("datetime64[ns]"))


def is_session_day(day) -> bool:
    return len(session_days(day, day)) == 1


def next_session_day(day) -> datetime:
    """First session strictly after `day`, as a naive midnight `datetime` (no pandas)."""
    day = _day(day)
    return midnight(session_days(day + 1, day + 20)[0])


def previous_session_day(day) -> datetime:
    """Last session strictly before `day`, as a naive midnight `datetime` (no pandas)."""
    day = _day(day)
    return midnight(session_days(day - 20, day - 1)[-1])


def is_session(day: str | pd.Timestamp) -> bool:
    return is_session_day(day)


def next_session(day: str | pd.Timestamp) -> pd.Timestamp:
    """First session strictly after `day`."""
    import pandas as pd

    return pd.Timestamp(next_session_day(day))


def previous_session(day: str | pd.Timestamp) -> pd.Timestamp:
    """Last session strictly before `day`."""
    import pandas as pd

    return pd.Timestamp(previous_session_day(day))


def now_ist() -> datetime:
    return datetime.now(IST)


def last_completed_day(now: datetime | None = None) -> datetime:
    """The latest session whose daily bar should exist by `now` (IST), as a naive midnight."""
    now = (now or now_ist()).astimezone(IST)
    today = midnight(now.date())
    if is_session_day(today) and now.time() >= SESSION_DATA_READY:
        return today
    return previous_session_day(today)


def last_completed_session(now: datetime | None = None) -> pd.Timestamp:
    """The latest session whose daily bar should exist by `now` (IST)."""
    import pandas as pd

    return pd.Timestamp(last_completed_day(now))


def is_stale(last_date: str | pd.Timestamp | None, now: datetime | None = None) -> bool:
    """Stale when the store lacks a session that has already completed."""
    if last_date is None:
        return True
    return midnight(last_date) < last_completed_day(now)


def calendar_status(day: str | pd.Timestamp | None = None) -> dict:
    """Where the calendar's answers come from around `day` (default: today)."""
    day = midnight(day if day is not None else now_ist().date())
    end = recorded_end_day()
    fallback = day > end
    holidays = extra_holiday_days()
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
