"""The market clock at fixed instants (never the wall clock), and forecasts stamped with it."""

from datetime import datetime

import pandas as pd
import pytest

from sensex.core.advice import update_advice
from sensex.market import calendar
from sensex.market import clock as market_clock
from sensex.serving import forecast_clock


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=calendar.IST)


# (instant, state, session date, next open, last completed session)
CASES = [
    ("2024-11-05 08:30", "closed", "2024-11-05", "2024-11-05T09:15:00+05:30", "2024-11-04"),  # weekday before 09:00
    ("2024-11-05 09:05", "pre_open", "2024-11-05", "2024-11-05T09:15:00+05:30", "2024-11-04"),
    ("2024-11-05 12:00", "open", "2024-11-05", "2024-11-06T09:15:00+05:30", "2024-11-04"),
    ("2024-11-05 15:45", "closed", "2024-11-06", "2024-11-06T09:15:00+05:30", "2024-11-05"),
    ("2024-11-09 11:00", "weekend", "2024-11-11", "2024-11-11T09:15:00+05:30", "2024-11-08"),  # a Saturday
    ("2024-11-01 12:00", "holiday", "2024-11-04", "2024-11-04T09:15:00+05:30", "2024-10-31"),  # Diwali (Laxmi Pujan)
    ("2027-03-10 12:00", "open", "2027-03-10", "2027-03-11T09:15:00+05:30", "2027-03-09"),  # past the recorded range
    ("2027-01-26 12:00", "holiday", "2027-01-27", "2027-01-27T09:15:00+05:30", "2027-01-25"),  # Republic Day, fallback
]


@pytest.mark.parametrize(("instant", "state", "session", "next_open", "last"), CASES)
def test_clock_at_fixed_instants(instant, state, session, next_open, last):
    reading = market_clock.read_clock(at(instant))
    out = reading.to_dict()
    assert out["state"] == state
    assert out["now"] == at(instant).isoformat()  # exchange-local, offset shown
    assert out["now"].endswith("+05:30")
    assert out["session"] == {"date": session, "open": f"{session}T09:15:00+05:30", "close": f"{session}T15:30:00+05:30"}
    assert out["next_open"] == next_open
    assert out["last_completed"]["date"] == last
    assert out["last_completed"]["close"] == f"{last}T15:30:00+05:30"
    assert out["calendar_fallback"] == (instant[:4] == "2027")


def test_the_past_range_fallback_reads_user_holiday_files(home):
    # 2027-03-22 is a Monday; a user's BSE holiday list for 2027 makes it a holiday.
    home.holidays_dir.mkdir(parents=True)
    (home.holidays_dir / "bse_2027.csv").write_text("date,description\n2027-03-22,Holi\n")
    reading = market_clock.read_clock(at("2027-03-22 12:00"))
    assert reading.state == "holiday" and str(reading.session.date.date()) == "2027-03-23"


def test_a_reused_reading_is_the_reading_computed_afresh(home):
    """Readings are reused until 09:00, the open, the close, midnight or a holiday file changes:
    walking through a day (and a new holiday file) gives what a fresh computation gives."""
    instants = [f"2027-03-22 {hh}:{mm}" for hh in ("08", "09", "12", "15", "23") for mm in ("00", "14", "15", "29", "30", "59")]
    for instant in sorted(instants):
        held = market_clock.read_clock(at(instant))
        assert held == market_clock._read_clock(at(instant)), instant
    home.holidays_dir.mkdir(parents=True)
    (home.holidays_dir / "bse_2027.csv").write_text("date,description\n2027-03-22,Holi\n")
    assert market_clock.read_clock(at("2027-03-22 23:59")).state == "holiday"  # same instant, new holiday file


def test_the_clock_converts_any_zone_and_refuses_a_naive_time():
    utc = datetime.fromisoformat("2024-11-05T06:30:00+00:00")  # 12:00 IST
    assert market_clock.read_clock(utc).state == "open"
    with pytest.raises(ValueError, match="aware"):
        market_clock.read_clock(datetime(2024, 11, 5, 12, 0))


def test_default_clock_is_calendar_now_ist(monkeypatch):
    monkeypatch.setattr(calendar, "now_ist", lambda: at("2024-11-05 09:10"))
    assert market_clock.read_clock().state == "pre_open"


def test_next_change_and_description():
    reading = market_clock.read_clock(at("2024-11-05 12:00"))
    assert reading.to_dict()["next_change"] == {"event": "close", "at": "2024-11-05T15:30:00+05:30", "in_seconds": 12600}
    assert market_clock.describe(reading) == "BSE is open: closes in 3 h 30 min (Tue 2024-11-05 15:30 IST)."
    weekend = market_clock.read_clock(at("2024-11-09 11:00"))
    assert market_clock.describe(weekend) == "Weekend: BSE is closed: opens in 1 d 22 h (Mon 2024-11-11 09:15 IST)."


@pytest.mark.parametrize(("instant", "mode"), [
    ("2024-11-05 00:30", "close"),  # the S&P 500 (Nov 4, EST) still trading: closes 02:30 IST
    ("2024-11-05 03:00", "preopen"),  # it has closed since BSE's close: pre-open first
    ("2024-11-05 09:05", "preopen"),  # BSE's pre-open auction: still before the open
    ("2024-11-05 12:00", "close"),  # BSE is open
    ("2024-11-05 16:00", "close"),  # after BSE's close, before New York's
    ("2024-11-09 11:00", "preopen"),  # Saturday: Friday's S&P close came after BSE's
])
def test_preferred_mode_follows_the_sp500_close(instant, mode):
    reading = market_clock.read_clock(at(instant))
    assert market_clock.preferred_mode(reading) == mode
    assert market_clock.preferred_mode(reading, available=("close",)) == "close"  # no pre-open model


def forecast(target: str) -> dict:
    return {"target_date": target, "direction": "UP"}


@pytest.mark.parametrize(("instant", "target", "status", "words"), [
    ("2024-11-05 12:00", "2024-11-05", "under_way", "targets today's close (Tue 2024-11-05) and the session is under way"),
    ("2024-11-05 09:05", "2024-11-05", "pre_open", "pre-open auction is on"),
    ("2024-11-05 08:30", "2024-11-05", "upcoming", "targets the close of today, which opens at 09:15 IST"),
    ("2024-11-05 15:45", "2024-11-05", "closed", "has already closed: run `sensex data update`"),
    ("2024-11-05 17:00", "2024-11-06", "upcoming", "targets the close of Wed 2024-11-06, which opens at 09:15 IST"),
    ("2024-11-09 11:00", "2024-11-11", "upcoming", "Mon 2024-11-11"),
])
def test_forecasts_know_the_clock(instant, target, status, words):
    stamped = forecast_clock.with_clock(forecast(target), now=at(instant))
    assert stamped["issued_at"] == at(instant).isoformat() and stamped["issued_at"].endswith("+05:30")
    assert stamped["clock_state"] == market_clock.read_clock(at(instant)).state
    assert stamped["target_status"] == status
    assert words in stamped["clock_note"]
    if status == "closed":  # worded as every other "update the data" message, offline CSV import included
        assert update_advice() in stamped["clock_note"]
    assert stamped["direction"] == "UP"  # the forecast's own fields are kept


def test_a_back_dated_forecast_is_a_look_back():
    stamped = forecast_clock.with_clock(forecast("2021-12-31"), latest=False, now=at("2024-11-05 12:00"))
    assert stamped["target_status"] == "closed" and stamped["clock_note"].startswith("A look back")


def test_session_hours_come_from_the_calendar():
    opens, closes = market_clock.session_hours(pd.Timestamp("2024-11-05"))
    assert (opens.hour, opens.minute, closes.hour, closes.minute) == (9, 15, 15, 30)
    assert market_clock.until_text(59) == "0 min" and market_clock.until_text(3 * 3600 + 300) == "3 h 05 min"
