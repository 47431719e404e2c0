"""Forecasts that know what time it is: `issued_at`, `clock_state`, and what the clock means for
the session a forecast targets.

The forecast itself is cached (per model and data); the clock is not. So the stamp is applied to
every answer, cached or not, at the moment it is served.
"""

from __future__ import annotations

from datetime import datetime

from sensex.core.advice import update_advice
from sensex.market import calendar
from sensex.market import clock as market_clock

UPCOMING, PRE_OPEN, UNDER_WAY, CLOSED = "upcoming", "pre_open", "under_way", "closed"


def target_status(reading: market_clock.ClockReading, target_date: str) -> str:
    """Where the target session stands: upcoming, in its pre-open auction, under way, or closed."""
    target = calendar.midnight(target_date)
    if target <= reading.last_completed.date:
        return CLOSED
    if target == reading.session.date and reading.state == market_clock.OPEN:
        return UNDER_WAY
    if target == reading.session.date and reading.state == market_clock.PRE_OPEN:
        return PRE_OPEN
    return UPCOMING


def _day(target: str) -> str:
    return calendar.midnight(target).strftime("%a %Y-%m-%d")


def clock_note(reading: market_clock.ClockReading, target_date: str, status: str, latest: bool) -> str:
    """One sentence on what the clock means for this forecast."""
    today = reading.now.date() == calendar.midnight(target_date).date()
    if status == UNDER_WAY:
        return (f"BSE is open: this forecast targets today's close ({_day(target_date)}) and the session is under"
                " way, so part of the day's move is already in the price.")
    if status == PRE_OPEN:
        return (f"BSE's pre-open auction is on: this forecast targets today's close ({_day(target_date)}); the"
                f" session opens at {reading.session.open.strftime('%H:%M')} IST.")
    if status == CLOSED:
        if not latest:
            return f"A look back: the target session {_day(target_date)} has closed and its outcome is known."
        return (f"The target session {_day(target_date)} has already closed: {update_advice()} for the forecast of"
                " the next session (the daily bar settles about an hour after the 15:30 IST close).")
    opens = reading.session.open if calendar.midnight(target_date) == reading.session.date else None
    when = f", which opens at {opens.strftime('%H:%M')} IST" if opens else ""
    return f"This forecast targets the close of {'today' if today else _day(target_date)}{when}."


def with_clock(forecast: dict, latest: bool = True, now: datetime | None = None) -> dict:
    """The forecast with `issued_at` (exchange-local), `clock_state`, `target_status` and `clock_note`."""
    reading = market_clock.read_clock(now)
    status = target_status(reading, forecast["target_date"])
    return {**forecast, "issued_at": market_clock.iso(reading.now), "clock_state": reading.state,
            "target_status": status, "clock_note": clock_note(reading, forecast["target_date"], status, latest)}
