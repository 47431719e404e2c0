from datetime import datetime
from pathlib import Path

import pandas as pd

from sensex.market import calendar


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


def test_fixed_date_holidays_are_closed_every_recorded_year():
    # The record itself is the evidence for FIXED_HOLIDAYS (1998's list in exchange_calendars
    # lacks three of them; from 1999 on every weekday occurrence is a holiday).
    years = range(1999, calendar.recorded_end().year + 1)
    for year in years:
        for month, day in calendar.FIXED_HOLIDAYS:
            date = pd.Timestamp(year, month, day)
            if date.weekday() < 5:
                assert not calendar.is_session(date), date


def test_republic_day_2027_is_never_a_forecast_target(home):
    """predict --as-of 2027-01-25 (a Monday) targets the next session: Wednesday the 27th."""
    assert calendar.next_session("2027-01-25") == pd.Timestamp("2027-01-27")  # fixed holiday, no file
    home.holidays_dir.mkdir(parents=True)
    shipped = Path(calendar.__file__).parent / "bse_holidays_example.csv"
    (home.holidays_dir / "bse-2027.csv").write_text(shipped.read_text())
    assert calendar.next_session("2027-01-25") == pd.Timestamp("2027-01-27")
    assert not calendar.is_session("2027-01-26")
    assert calendar.previous_session("2027-01-27") == pd.Timestamp("2027-01-25")


def test_the_recorded_range_does_not_move_with_today(monkeypatch, home):
    """exchange_calendars' default end is a year from today; early in the last recorded year
    that would cut the record short and send the rest of the year to the fallback."""
    import exchange_calendars.exchange_calendar as xcals_module
    from exchange_calendars.calendar_utils import global_calendar_dispatcher

    bound = calendar.recorded_end()
    calendar._recorded_sessions.cache_clear()  # and the home is new: the sessions are built again
    monkeypatch.setattr(global_calendar_dispatcher, "_factory_output_cache", {})  # no calendar made before "today"
    monkeypatch.setattr(xcals_module, "GLOBAL_DEFAULT_END", pd.Timestamp(bound.year, 1, 15))
    try:
        assert calendar.recorded_end() == bound
        # Diwali-season holidays late in the recorded year stay holidays.
        assert calendar.calendar_status(bound)["fallback"] is False
    finally:
        calendar._recorded_sessions.cache_clear()


def test_a_store_extended_past_the_record_reports_the_fallback_today(universe, home):
    """Judged from the stored dates: today (inside the record) does not hide it."""
    from sensex.data.quality import validate_data_quality
    from sensex.data.sources.synthetic import generate

    last = calendar.recorded_end() + pd.Timedelta(days=40)
    extended = generate(universe, calendar.recorded_end() - pd.Timedelta(days=200), last, seed=5)
    today = calendar.recorded_end() - pd.Timedelta(days=30)
    now = datetime(today.year, today.month, today.day, 18, 0, tzinfo=calendar.IST)
    assert calendar.calendar_status(today)["fallback"] is False
    report = validate_data_quality(extended, universe, now=now)
    assert report["calendar"]["fallback"] is True
    assert any("recorded only through" in w for w in report["warnings"])
    assert pd.Timestamp(f"{last.year}-01-26") not in set(extended["date"])  # nor generated as a session


def test_holiday_files_in_bse_spellings_and_broken_ones(home, caplog):
    """ISO dates are read without pandas; BSE's own spellings ("11-Jan-2027") still count; a
    file without a `date` column is skipped with a warning, never a crash."""
    monday = _first_friday_after_recorded_range() + pd.Timedelta(days=3)
    tuesday = monday + pd.Timedelta(days=1)
    home.holidays_dir.mkdir(parents=True)
    (home.holidays_dir / "a-iso.csv").write_text(f"date,description\n{monday.date()},One\n")
    (home.holidays_dir / "b-bse.csv").write_text(f"date,description\n{tuesday.strftime('%d-%b-%Y')},Two\n")
    (home.holidays_dir / "c-broken.csv").write_text("day,description\n2030-01-01,Three\n")
    assert calendar.next_session(monday - pd.Timedelta(days=3)) == monday + pd.Timedelta(days=2)
    assert calendar.calendar_status(monday)["extra_holidays"] == 2
    assert "c-broken.csv" in caplog.text and "needs a 'date' column" in caplog.text
    (home.holidays_dir / "b-bse.csv").unlink()  # the files are read again when they change
    assert calendar.next_session(monday - pd.Timedelta(days=3)) == tuesday


def test_the_day_functions_take_any_spelling_of_a_day():
    """The forecast path's pandas-free answers, asked with a str, a date, a datetime or a
    Timestamp, across the record's start (1997) and end, agree with the session list."""
    start, end = pd.Timestamp("1996-12-01"), calendar.recorded_end() + pd.Timedelta(days=60)
    listed = calendar.sessions(start, end)
    for day in pd.date_range(start + pd.Timedelta(days=25), end - pd.Timedelta(days=25), freq="11D"):
        following, before = listed[listed > day][0], listed[listed < day][-1]
        assert calendar.next_session_day(str(day.date())) == following
        assert calendar.previous_session_day(day.to_pydatetime().date()) == before
        assert calendar.is_session_day(day.to_pydatetime()) == (day in listed)
