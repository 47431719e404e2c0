"""The on-disk session list answers exactly as exchange_calendars does, and spares its import."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd

from sensex.market import calendar


def test_cached_sessions_equal_exchange_calendars(home):
    calendar._recorded_sessions.cache_clear()
    try:
        built = calendar._recorded_sessions()  # builds and writes the file
        path = calendar._session_file()
        assert path.is_file() and str(home.home) in str(path)
        calendar._recorded_sessions.cache_clear()
        read = calendar._recorded_sessions()  # from the file
        truth = pd.DatetimeIndex(calendar._xbom().sessions).tz_localize(None)
        assert np.array_equal(read.astype("datetime64[ns]"), truth.values)
        assert np.array_equal(built, read)
        assert calendar.recorded_end() == truth[-1]
        lo, hi = pd.Timestamp("2019-12-20"), pd.Timestamp("2020-01-10")
        assert list(calendar.sessions(lo, hi)) == list(
            pd.DatetimeIndex(calendar._xbom().sessions_in_range(lo, hi)).tz_localize(None))
    finally:
        calendar._recorded_sessions.cache_clear()


def test_a_damaged_cache_file_is_rebuilt(home):
    calendar._recorded_sessions.cache_clear()
    try:
        path = calendar._session_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{not json")
        days = calendar._recorded_sessions()
        assert len(days) > 7000 and json.loads(path.read_text())["days"][0] == int(days[0].astype(np.int64))
    finally:
        calendar._recorded_sessions.cache_clear()


def test_a_second_process_does_not_import_exchange_calendars(home):
    calendar._recorded_sessions.cache_clear()
    calendar._recorded_sessions()  # the file exists now
    calendar._recorded_sessions.cache_clear()
    code = ("import sys; from sensex.market import calendar; print(calendar.next_session('2024-10-31').date(),"
            " 'exchange_calendars' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["2024-11-04", "False"]


def test_cached_nyse_sessions_and_closes_equal_exchange_calendars(home):
    from sensex.market import context

    context._recorded.cache_clear()
    try:
        nyse = context._exchange("XNYS")
        built = context._recorded("XNYS")  # builds and writes the file
        assert context._calendar_file("XNYS").is_file()
        context._recorded.cache_clear()
        read = context._recorded("XNYS")  # from the file
        assert all(np.array_equal(a, b) for a, b in zip(built, read, strict=True))
        lo, hi = pd.Timestamp("2019-12-20"), pd.Timestamp("2020-01-10")
        assert list(context.sessions(context.SP500, lo, hi)) == list(pd.DatetimeIndex(nyse.sessions_in_range(lo, hi)))
        assert context.last_session_before(context.SP500, "2024-07-05") == pd.Timestamp("2024-07-03")
        # Every kind of minute: a close itself, one after, an early close (Black Friday), a weekend, a holiday.
        minutes = ["2024-11-29 18:00", "2024-11-29 18:01", "2024-11-29 17:59", "2024-11-30 12:00", "2024-12-25 15:00",
                   "2024-12-24 18:00", "2025-01-02 21:00", "2025-01-02 21:01", "2026-11-27 21:33"]
        for minute in (pd.Timestamp(m, tz="UTC") for m in minutes):
            assert context.previous_close(context.SP500, minute) == nyse.previous_close(minute), minute
    finally:
        context._recorded.cache_clear()


def test_the_sp500_clock_does_not_import_exchange_calendars_once_cached(home):
    from sensex.market import context

    context._recorded.cache_clear()
    calendar._recorded_sessions.cache_clear()
    context._recorded("XNYS")  # the files exist now (BSE's sessions too, which the clock reads)
    calendar._recorded_sessions()
    context._recorded.cache_clear()
    calendar._recorded_sessions.cache_clear()
    code = ("import sys; from sensex.market import context, calendar; from sensex.market import clock as market_clock; from datetime import datetime;"
            " r = market_clock.read_clock(datetime(2024, 11, 5, 8, 0, tzinfo=calendar.IST));"
            " print(market_clock.preferred_mode(r), 'exchange_calendars' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["preopen", "False"]
