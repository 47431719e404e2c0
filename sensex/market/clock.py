"""The market clock: is BSE open now, and when does that change?

States, in exchange-local time (Asia/Kolkata, IST):
- `pre_open`: 09:00-09:15 on a session day (BSE's pre-open call auction),
- `open`: 09:15-15:30 on a session day,
- `closed`: a session day outside those hours,
- `holiday`: a weekday that is not a session,
- `weekend`: Saturday or Sunday.

Sessions come from `sensex.market.calendar` (exchange_calendars XBOM, then its holiday fallback past the
recorded range), so the clock and the data pipeline never disagree on what a session is. Hours
are BSE's 09:15-15:30, the hours XBOM records for every session.

"Last completed" here is the last session whose close has passed (15:30). That differs on purpose
from `calendar.last_completed_session`, which waits until 16:30 for the daily bar to settle.

Every function takes `now` (an aware datetime); None means `calendar.now_ist()`, looked up at call
time so that a test freezing `calendar.now_ist` freezes the clock too. Tests never use the wall clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta

from sensex.market import calendar

PRE_OPEN, OPEN, CLOSED, HOLIDAY, WEEKEND = "pre_open", "open", "closed", "holiday", "weekend"
STATES = (PRE_OPEN, OPEN, CLOSED, HOLIDAY, WEEKEND)
PRE_OPEN_START = time(9, 0)

Clock = Callable[[], datetime]


# BSE's continuous session. exchange_calendars' XBOM records these hours for every session it
# knows (7,419 sessions, none different), so constants give the same answers without importing
# exchange_calendars on the forecast path, which every forecast's clock stamp is on.
OPEN_TIME, CLOSE_TIME = time(9, 15), time(15, 30)


def standard_hours() -> tuple[time, time]:
    """BSE's regular (open, close): 09:15 and 15:30 IST."""
    return OPEN_TIME, CLOSE_TIME


def session_hours(day: datetime | str) -> tuple[datetime, datetime]:
    """(open, close) of the session on `day` as IST datetimes."""
    day = calendar.midnight(day)
    return (datetime.combine(day.date(), OPEN_TIME, calendar.IST),
            datetime.combine(day.date(), CLOSE_TIME, calendar.IST))


@dataclass(frozen=True)
class Session:
    date: datetime  # naive midnight (a pd.Timestamp compares with it; no pandas on the forecast path)
    open: datetime
    close: datetime

    @classmethod
    def on(cls, day: datetime | str) -> Session:
        opens, closes = session_hours(day)
        return cls(calendar.midnight(day), opens, closes)

    def to_dict(self) -> dict:
        return {"date": str(self.date.date()), "open": iso(self.open), "close": iso(self.close)}


@dataclass(frozen=True)
class ClockReading:
    """Where the market stands at `now`."""

    state: str
    now: datetime
    session: Session  # today's session until its close, else the next one
    next_open: datetime  # the next opening strictly after now
    last_completed: Session  # the last session whose close has passed
    calendar_fallback: bool  # the answer leans on the holiday fallback past exchange_calendars' range

    @property
    def next_change(self) -> tuple[str, datetime]:
        """("open" | "close", when): what happens next to the continuous session."""
        if self.state == OPEN:
            return "close", self.session.close
        return "open", self.next_open

    def to_dict(self) -> dict:
        event, at = self.next_change
        return {
            "state": self.state,
            "now": iso(self.now),
            "timezone": str(calendar.IST),
            "session": self.session.to_dict(),
            "next_open": iso(self.next_open),
            "last_completed": self.last_completed.to_dict(),
            "next_change": {"event": event, "at": iso(at), "in_seconds": int((at - self.now).total_seconds())},
            "calendar_fallback": self.calendar_fallback,
        }


def iso(moment: datetime) -> str:
    """Exchange-local ISO 8601 with the offset shown (2024-11-04T09:15:00+05:30)."""
    return moment.astimezone(calendar.IST).isoformat(timespec="seconds")


def local_now(now: datetime | None = None) -> datetime:
    """`now` in IST; None reads `calendar.now_ist()`. A naive `now` is refused: its zone is a guess."""
    now = calendar.now_ist() if now is None else now
    if now.tzinfo is None:
        raise ValueError("the market clock needs an aware datetime (with a time zone)")
    return now.astimezone(calendar.IST)


_held: tuple[ClockReading, datetime, tuple] | None = None  # last reading, when it stops holding, holiday files


def read_clock(now: datetime | None = None) -> ClockReading:
    """The market clock at `now` (default: the current time in IST).

    Every forecast served is stamped with it, so the last reading is reused (with `now` updated)
    until the next moment anything but `now` could change: 09:00, the open, the close, midnight,
    or the user's holiday files.
    """
    global _held
    now = local_now(now)
    holidays = calendar.holidays_signature()
    held = _held
    if held is not None and held[0].now <= now < held[1] and held[2] == holidays:
        return replace(held[0], now=now)
    reading = _read_clock(now)
    _held = (reading, _holds_until(now), holidays)
    return reading


def _holds_until(now: datetime) -> datetime:
    day = now.date()
    changes = [datetime.combine(day, moment, calendar.IST) for moment in (PRE_OPEN_START, OPEN_TIME, CLOSE_TIME)]
    midnight = datetime.combine(day + timedelta(days=1), time(0, 0), calendar.IST)
    return min([moment for moment in changes if moment > now] + [midnight])


def _read_clock(now: datetime) -> ClockReading:
    today = calendar.midnight(now.date())
    is_session = calendar.is_session_day(today)
    if is_session:
        todays = Session.on(today)
        if now < datetime.combine(now.date(), PRE_OPEN_START, calendar.IST):
            state = CLOSED
        elif now < todays.open:
            state = PRE_OPEN
        elif now < todays.close:
            state = OPEN
        else:
            state = CLOSED
    else:
        todays = None
        state = WEEKEND if now.weekday() >= 5 else HOLIDAY
    following = Session.on(calendar.next_session_day(today))
    session = todays if todays is not None and now < todays.close else following
    next_open = todays.open if todays is not None and now < todays.open else following.open
    if todays is not None and now >= todays.close:
        last = todays
    else:
        last = Session.on(calendar.previous_session_day(today))
    fallback = max(session.date, today) > calendar.recorded_end_day()
    return ClockReading(state, now, session, next_open, last, fallback)


def until_text(seconds: float) -> str:
    """A short duration for people: '45 min', '3 h 05 min', '2 d 17 h'."""
    minutes = max(0, int(seconds // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min"


def describe(reading: ClockReading) -> str:
    """One sentence for the chip, the CLI and the app: the state and the time to the next change."""
    event, at = reading.next_change
    when = f"{at.strftime('%a %Y-%m-%d %H:%M')} IST"
    wait = until_text((at - reading.now).total_seconds())
    head = {
        OPEN: "BSE is open",
        PRE_OPEN: "BSE pre-open auction",
        CLOSED: "BSE is closed",
        HOLIDAY: "BSE holiday",
        WEEKEND: "Weekend: BSE is closed",
    }[reading.state]
    return f"{head}: {'closes' if event == 'close' else 'opens'} in {wait} ({when})."


def sp500_closed_since_bse(reading: ClockReading) -> bool:
    """True from the S&P 500's close until BSE opens: a US session has closed after BSE's last
    close, and BSE has not opened since (NYSE hours and holidays from exchange_calendars XNYS)."""
    if reading.state == OPEN:
        return False
    import pandas as pd

    from sensex.market import context

    minute = pd.Timestamp(reading.now).tz_convert("UTC").floor("min")
    last_us_close = context.previous_close(context.SP500, minute + timedelta(minutes=1))  # a close at this very minute counts
    return last_us_close > pd.Timestamp(reading.last_completed.close).tz_convert("UTC")


def preferred_mode(reading: ClockReading, available: tuple[str, ...] = ("close", "preopen")) -> str:
    """The forecast mode to show first: `preopen` from the S&P 500's close until BSE opens (when a
    pre-open model exists), `close` otherwise."""
    if "preopen" in available and sp500_closed_since_bse(reading):
        return "preopen"
    return "close"
