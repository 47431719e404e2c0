from datetime import datetime

import pandas as pd

from sensex import calendar


def test_next_session_skips_weekend_and_holiday():
    # 2024-11-01 (Diwali) is not a regular session; 2024-11-02/03 is a weekend.
    assert calendar.next_session("2024-10-31") == pd.Timestamp("2024-11-04")
    assert calendar.previous_session("2024-11-04") == pd.Timestamp("2024-10-31")


def _first_friday_after_recorded_range() -> pd.Timestamp:
    day = calendar.recorded_end() + pd.Timedelta(days=14)
    return day + pd.Timedelta(days=(4 - day.weekday()) % 7)


def test_dates_past_the_recorded_range_fall_back_to_weekdays():
    # exchange_calendars 4.13 records XBOM through 2026: January 2027 must still work.
    friday = _first_friday_after_recorded_range()
    assert calendar.next_session(friday) == friday + pd.Timedelta(days=3)  # Friday -> Monday
    assert calendar.next_session(friday - pd.Timedelta(days=1)) == friday
    assert calendar.is_session(friday) and not calendar.is_session(friday + pd.Timedelta(days=1))
    status = calendar.calendar_status(friday)
    assert status["fallback"] is True and "holiday" in status["message"]
    if calendar.recorded_end() < pd.Timestamp("2027-01-01"):
        assert calendar.next_session("2027-01-08") == pd.Timestamp("2027-01-11")


def test_user_holiday_file_is_used_past_the_recorded_range(home):
    monday = _first_friday_after_recorded_range() + pd.Timedelta(days=3)
    home.holidays_dir.mkdir(parents=True)
    (home.holidays_dir / "bse-next.csv").write_text(f"date,description\n{monday.date()},A holiday\n")
    assert calendar.next_session(monday - pd.Timedelta(days=3)) == monday + pd.Timedelta(days=1)


def test_last_completed_session_waits_for_the_close():
    before_close = datetime(2024, 10, 31, 12, 0, tzinfo=calendar.IST)
    after_close = datetime(2024, 10, 31, 18, 0, tzinfo=calendar.IST)
    assert calendar.last_completed_session(before_close) == pd.Timestamp("2024-10-30")
    assert calendar.last_completed_session(after_close) == pd.Timestamp("2024-10-31")
    assert calendar.is_stale("2024-10-30", after_close)
    assert not calendar.is_stale("2024-10-31", after_close)
