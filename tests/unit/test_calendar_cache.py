"""The on-disk session list answers exactly as exchange_calendars does, and spares its import."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd

from sensex import calendar


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
    code = ("import sys; from sensex import calendar; print(calendar.next_session('2024-10-31').date(),"
            " 'exchange_calendars' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["2024-11-04", "False"]
