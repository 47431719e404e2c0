"""Dates from users: strict ISO `YYYY-MM-DD`, checked against the calendar and the stored data.

One place for the rules the CLI options, the API fields and the config segment dates share, so
`01/02/2026` is never read as 2 January and `2026-02-30` is never a 500. Every refusal is a
DateError (a ConfigError, HTTP 422) whose message is one sentence naming the value and what to write instead.
"""

from __future__ import annotations

import calendar as month_calendar
import re
from datetime import date, datetime

from sensex.core.advice import update_advice
from sensex.core.errors import DateError

ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")


def problem(value: object) -> str | None:
    """Why `value` is not a YYYY-MM-DD date, as a phrase (`not a real date: ...`); None when it is one."""
    if isinstance(value, datetime):  # YAML reads `2020-01-01T00:00` as a datetime: a date is wanted
        return "a date with a time of day: write the date alone as YYYY-MM-DD"
    if isinstance(value, date):  # YAML reads an unquoted 2020-01-01 as a date already
        return None
    match = ISO_DATE.fullmatch(str(value).strip())
    if match is None:
        readings = _day_month_readings(str(value).strip())
        if readings:
            return f"not a date in YYYY-MM-DD form: {' or '.join(readings)}"
        return "not a date in YYYY-MM-DD form: write 1 February 2026 as 2026-02-01"
    year, month, day = (int(part) for part in match.groups())
    if not 1 <= month <= 12:
        return "not a real date: the month must be 01 to 12 (YYYY-MM-DD)"
    if year < 1:
        return "not a real date: years start at 0001 (YYYY-MM-DD)"
    last_day = month_calendar.monthrange(year, month)[1]
    if not 1 <= day <= last_day:
        return f"not a real date: {month_calendar.month_name[month]} {year} has {last_day} days"
    return None


DAY_MONTH_YEAR = re.compile(r"([0-9]{1,2})[/.-]([0-9]{1,2})[/.-]([0-9]{4})")


def _day_month_readings(text: str) -> list[str]:
    """`12/07/2026` read both ways (day first, as in India, and month first, as in the US): the
    ISO spelling of each reading that is a real date, so the user picks; never a guess."""
    match = DAY_MONTH_YEAR.fullmatch(text)
    if match is None:
        return []
    first, second, year = (int(part) for part in match.groups())
    readings = []
    for day, month, order in ((first, second, "day first"), (second, first, "month first")):
        if 1 <= month <= 12 and 1 <= day <= month_calendar.monthrange(year, month)[1]:
            iso = f"{year:04d}-{month:02d}-{day:02d}"
            text_form = f"{day} {month_calendar.month_name[month]} {year}"
            if not any(iso in reading for reading in readings):
                readings.append(f"write {iso} for {text_form} ({order})")
    return readings


def parse(value: str | date, name: str = "date") -> date:
    """`value` as a date; `name` (e.g. `--as-of`) is how the message refers to it."""
    why = problem(value)
    if why is not None:
        shown = value.isoformat() if isinstance(value, date) else repr(str(value).strip())
        if why.startswith("not a real date"):
            shown = str(value).strip()  # well-formed: no quotes needed to see it
        raise DateError(f"{name} {shown} is {why}.")
    return value if isinstance(value, date) else date.fromisoformat(str(value).strip())


def parse_optional(value: str | date | None, name: str = "date") -> str | None:
    """The ISO text of `value`, or None; what the CLI hands to the library."""
    return None if value is None else parse(value, name).isoformat()


def check_order(start: str | date | None, end: str | date | None,
                start_name: str = "--start", end_name: str = "--end") -> None:
    """Refuse a range whose start is after its end."""
    if start is None or end is None:
        return
    first, last = parse(start, start_name), parse(end, end_name)
    if first > last:
        raise DateError(f"{start_name} {first} is after {end_name} {last}: the start of a range must come first.")


def latest_allowed(now: datetime | None = None) -> date:
    """The next BSE session after the last completed one: the latest date a user may mean
    by "now" (today before the close, or the weekend before Monday)."""
    from sensex.market import calendar  # exchange_calendars loads slowly: only when needed

    return calendar.next_session(calendar.last_completed_session(now)).date()


def check_not_future(value: str | date, name: str, now: datetime | None = None) -> date:
    """Refuse a date after the last completed session: no prices exist for it yet."""
    from sensex.market import calendar  # exchange_calendars loads slowly: only when needed

    day = parse(value, name)
    completed = calendar.last_completed_session(now).date()
    if day > completed:
        raise DateError(
            f"{name} {day} is after the last completed BSE session {completed}: no prices exist after it"
            f" yet, so pick a date up to {completed}."
        )
    return day


def check_as_of(value: str | date, first_stored: str | None, last_stored: str | None,
                name: str = "--as-of", now: datetime | None = None) -> date:
    """Refuse an as-of the stored sessions cannot answer for; returns it as a date.

    Allowed: any date from the first stored session up to the next session, provided no
    completed session between the last stored one and the as-of is missing from the store
    (otherwise the forecast would silently come from older data than asked for).
    """
    from sensex.market import calendar

    day = parse(value, name)
    upper = latest_allowed(now)
    if day > upper:
        raise DateError(
            f"{name} {day} is after the next session ({upper}): forecasts are made from stored sessions;"
            f" leave {name} out for the latest forecast."
        )
    if first_stored and day < parse(first_stored, "first stored session"):
        raise DateError(
            f"{name} {day} is before the first stored session {first_stored}: pick a later date, or import"
            " older history with `sensex data update --start YYYY-MM-DD`."
        )
    if last_stored:
        last = parse(last_stored, "last stored session")
        completed = calendar.last_completed_session(now).date()
        missing_from = calendar.next_session(last).date()
        if last < completed and missing_from <= day:
            raise DateError(
                f"{name} {day} is after the last stored session {last}: {update_advice()}, or pick"
                f" a date up to {last}."
            )
    return day


def rolled_back_notice(requested: str | None, used: str) -> str | None:
    """One sentence when a forecast asked for `requested` comes from an earlier session `used` (a
    weekend, a holiday, a day the store does not hold); None when it is the day asked for."""
    if requested is None or str(requested) == used:
        return None
    day = parse(requested, "as_of")
    why = (f"a {day:%A}, not a session" if day.weekday() >= 5
           else "not a stored BSE session (a holiday, or a day missing from the store)")
    return f"{day} is {why}: this forecast is from the last stored session before it, {used}."
