from datetime import datetime

import pandas as pd

from sensex import calendar


def test_next_session_skips_weekend_and_holiday():
    # 2024-11-01 (Diwali) is not a regular session; 2024-11-02/03 is a weekend.
    assert calendar.next_session("2024-10-31") == pd.Timestamp("2024-11-04")
    assert calendar.previous_session("2024-11-04") == pd.Timestamp("2024-10-31")


def test_dates_past_the_recorded_range_fall_back_to_weekdays():
    assert calendar.recorded_end() < pd.Timestamp("2027-01-01")
    assert calendar.next_session("2026-12-31") == pd.Timestamp("2027-01-01")
    assert calendar.next_session("2027-01-08") == pd.Timestamp("2027-01-11")  # Friday -> Monday
    status = calendar.calendar_status("2027-02-01")
    assert status["fallback"] is True and "holiday" in status["message"]


def test_user_holiday_file_is_used_past_the_recorded_range(home):
    home.holidays_dir.mkdir(parents=True)
    (home.holidays_dir / "bse-2027.csv").write_text("date,description\n2027-01-26,Republic Day\n")
    assert calendar.next_session("2027-01-25") == pd.Timestamp("2027-01-27")


def test_last_completed_session_waits_for_the_close():
    before_close = datetime(2024, 10, 31, 12, 0, tzinfo=calendar.IST)
    after_close = datetime(2024, 10, 31, 18, 0, tzinfo=calendar.IST)
    assert calendar.last_completed_session(before_close) == pd.Timestamp("2024-10-30")
    assert calendar.last_completed_session(after_close) == pd.Timestamp("2024-10-31")
    assert calendar.is_stale("2024-10-30", after_close)
    assert not calendar.is_stale("2024-10-31", after_close)
