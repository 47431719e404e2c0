"""Trading sessions of the exchange a universe trades on.

Indian universes (BSE "XBOM", NSE "XNSE") use `sensex.market.calendar`, which knows BSE's holidays and
falls back past exchange_calendars' recorded range. exchange_calendars has no NSE calendar; NSE
and BSE publish one common list of trading holidays (both follow SEBI's settlement calendar), so
"XNSE" is answered with BSE's sessions. Any other exchange is exchange_calendars' own calendar,
over a fixed range so an answer never depends on today's date. An exchange it does not know is
refused with a sentence naming those it does.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING

from sensex.core.errors import ConfigError
from sensex.market import calendar

if TYPE_CHECKING:
    import pandas as pd

INDIAN = ("XBOM", "XNSE")  # answered by sensex.market.calendar (same holidays, see above); without pandas
CALENDAR_START = datetime(1990, 1, 1)
CALENDAR_END = datetime(2050, 12, 31)
# Daily bars settle about an hour after the close (as SESSION_DATA_READY for BSE).
DATA_READY_AFTER_CLOSE = timedelta(hours=1)


@lru_cache(maxsize=1)
def known() -> tuple[str, ...]:
    """Exchange names a universe may name: exchange_calendars' calendars plus XNSE."""
    import exchange_calendars as xcals

    names = {name for name in xcals.get_calendar_names(include_aliases=False)}
    return tuple(sorted(names | set(INDIAN)))


def check_exchange(name: str | None) -> str:
    """The exchange's canonical name (upper case); a ConfigError names the known ones otherwise."""
    exchange = (name or "XBOM").strip().upper()
    if exchange in INDIAN:  # answered without importing exchange_calendars (the forecast path's case)
        return exchange
    if exchange not in known():
        raise ConfigError(
            f"Unknown exchange {name!r}: the universe's `exchange` must be one of the calendars exchange_calendars"
            f" knows: {', '.join(known())}."
        )
    return exchange


@lru_cache(maxsize=8)
def _calendar(exchange: str):
    import exchange_calendars as xcals

    return xcals.get_calendar(exchange, start=CALENDAR_START, end=CALENDAR_END)


def sessions(exchange: str, start: str | pd.Timestamp, end: str | pd.Timestamp) -> pd.DatetimeIndex:
    """The exchange's sessions in [start, end], inclusive (local dates, tz-naive midnights)."""
    import pandas as pd

    exchange = check_exchange(exchange)
    if exchange in INDIAN:
        return calendar.sessions(start, end)
    start = max(pd.Timestamp(start).normalize(), pd.Timestamp(CALENDAR_START))
    end = min(pd.Timestamp(end).normalize(), pd.Timestamp(CALENDAR_END))
    if end < start:
        return pd.DatetimeIndex([])
    return pd.DatetimeIndex(_calendar(exchange).sessions_in_range(start, end)).tz_localize(None)


def next_session(exchange: str, day: str | pd.Timestamp) -> pd.Timestamp:
    """First session strictly after `day`."""
    import pandas as pd

    if check_exchange(exchange) in INDIAN:
        return calendar.next_session(day)
    day = pd.Timestamp(day).normalize()
    return sessions(exchange, day + pd.Timedelta(days=1), day + pd.Timedelta(days=20))[0]


def last_completed_session(exchange: str, now: datetime | None = None) -> pd.Timestamp:
    """The latest session whose daily bar should exist by `now`."""
    import pandas as pd

    if check_exchange(exchange) in INDIAN:
        return calendar.last_completed_session(now)
    cal = _calendar(check_exchange(exchange))
    now_utc = pd.Timestamp(now or datetime.now().astimezone()).tz_convert("UTC")
    today = now_utc.tz_convert(cal.tz).normalize().tz_localize(None)
    for day in reversed(sessions(exchange, today - pd.Timedelta(days=20), today)):
        if pd.Timestamp(cal.session_close(day)) + DATA_READY_AFTER_CLOSE <= now_utc:
            return day
    raise ConfigError(f"No {exchange} session completed in the 20 days before {today.date()}: check the date.")


def is_stale(exchange: str, last_date: str | pd.Timestamp | None, now: datetime | None = None) -> bool:
    """Stale when the store lacks a session of the exchange that has already completed."""
    if last_date is None:
        return True
    if check_exchange(exchange) in INDIAN:
        return calendar.is_stale(last_date, now)
    return calendar.midnight(last_date) < last_completed_session(exchange, now)


def next_session_date(exchange: str, day) -> str:
    """`next_session` as 'YYYY-MM-DD' (what a forecast's `target_date` holds); an Indian
    exchange is answered without pandas."""
    if check_exchange(exchange) in INDIAN:
        return str(calendar.next_session_day(day).date())
    return str(next_session(exchange, day).date())
