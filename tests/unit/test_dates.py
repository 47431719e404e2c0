"""Strict ISO dates: every malformed, impossible or out-of-range date is one sentence, never a guess."""

from datetime import date, datetime

import pandas as pd
import pytest

from sensex.core.errors import ConfigError, DateError
from sensex.market import calendar, dates
from sensex.models.config import config_from_dict

# A fixed clock: Friday 2026-11-27 after the close, so the last completed session is that day.
NOW = datetime(2026, 11, 27, 18, 0, tzinfo=calendar.IST)


@pytest.mark.parametrize("text", ["2021-12-15", "2024-02-29", "2000-01-01"])
def test_iso_dates_parse(text):
    assert dates.parse(text).isoformat() == text


@pytest.mark.parametrize(("text", "says"), [
    ("2026-13-01", "the month must be 01 to 12"),
    ("2026-00-10", "the month must be 01 to 12"),
    ("2026-02-30", "February 2026 has 28 days"),
    ("2023-02-29", "February 2023 has 28 days"),
    ("2026-04-31", "April 2026 has 30 days"),
    ("2026-13-45", "the month must be 01 to 12"),
    ("0000-01-01", "years start at 0001"),
])
def test_impossible_dates_are_refused_with_the_reason(text, says):
    with pytest.raises(DateError, match=says) as caught:
        dates.parse(text, "--as-of")
    assert str(caught.value).startswith(f"--as-of {text} is not a real date")


@pytest.mark.parametrize("text", ["yesterday", "2026/02/01", "20260201", "2026-2-1",
                                  "2026-02-01T00:00", "2026-02-01x", "", "٢٠٢٦-٠٢-٠١"])
def test_non_iso_text_is_refused_never_guessed(text):
    with pytest.raises(DateError, match="is not a date in YYYY-MM-DD form: write 1 February 2026 as 2026-02-01"):
        dates.parse(text, "--as-of")


@pytest.mark.parametrize(("text", "readings"), [
    # 01/12/2026 means 1 December to an Indian user and 12 January to pandas: both are said, neither guessed.
    ("01/12/2026", ["2026-12-01 for 1 December 2026 (day first)", "2026-01-12 for 12 January 2026 (month first)"]),
    ("12/07/2026", ["2026-07-12 for 12 July 2026 (day first)", "2026-12-07 for 7 December 2026 (month first)"]),
    ("1/2/2026", ["2026-02-01 for 1 February 2026 (day first)", "2026-01-02 for 2 January 2026 (month first)"]),
    ("02-01-2026", ["2026-01-02 for 2 January 2026 (day first)", "2026-02-01 for 1 February 2026 (month first)"]),
    ("31/12/2026", ["2026-12-31 for 31 December 2026 (day first)"]),  # only one reading is a real date
    ("12.31.2026", ["2026-12-31 for 31 December 2026 (month first)"]),
    ("05/05/2026", ["2026-05-05 for 5 May 2026 (day first)"]),  # both readings agree: said once
])
def test_a_day_month_date_is_refused_with_each_reading_spelled_out(text, readings):
    with pytest.raises(DateError) as caught:
        dates.parse(text, "--as-of")
    message = str(caught.value)
    assert message.startswith(f"--as-of '{text}' is not a date in YYYY-MM-DD form")
    assert all(f"write {reading}" in message for reading in readings)
    assert message.count("write ") == len(readings)


def test_a_date_error_is_a_config_error_and_a_422():
    assert issubclass(DateError, ConfigError) and DateError.http_status == 422 and DateError.exit_code == 2


def test_yaml_dates_are_accepted_but_not_times():
    assert dates.parse(date(2020, 1, 31)) == date(2020, 1, 31)
    with pytest.raises(DateError, match="train.train_end 2020-01-31T09:30:00 is a date with a time of day"):
        dates.parse(datetime(2020, 1, 31, 9, 30), "train.train_end")


def test_start_after_end_is_refused():
    dates.check_order("2021-01-01", "2021-01-01")
    dates.check_order(None, "2021-01-01")
    with pytest.raises(DateError, match="--start 2021-03-01 is after --end 2021-02-01"):
        dates.check_order("2021-03-01", "2021-02-01")


def test_future_dates_have_no_prices():
    assert dates.check_not_future("2026-11-27", "--end", NOW) == date(2026, 11, 27)
    with pytest.raises(DateError, match="--end 2030-01-01 is after the last completed BSE session 2026-11-27"):
        dates.check_not_future("2030-01-01", "--end", NOW)
    # Before the close the day's session has not completed yet.
    morning = datetime(2026, 11, 27, 10, 0, tzinfo=calendar.IST)
    with pytest.raises(DateError, match="after the last completed BSE session 2026-11-26"):
        dates.check_not_future("2026-11-27", "--end", morning)


class TestAsOf:
    first, last = "2018-06-01", "2026-11-27"

    def test_any_stored_date_and_up_to_the_next_session_is_allowed(self):
        assert dates.check_as_of("2021-12-15", self.first, self.last, now=NOW) == date(2021, 12, 15)
        # The weekend and Monday (the next session) still mean "from the latest stored session".
        assert dates.check_as_of("2026-11-30", self.first, self.last, now=NOW) == date(2026, 11, 30)

    def test_beyond_the_next_session_is_refused(self):
        with pytest.raises(DateError, match=r"--as-of 2026-12-01 is after the next session \(2026-11-30\):"
                                            " forecasts are made from stored sessions"):
            dates.check_as_of("2026-12-01", self.first, self.last, now=NOW)

    def test_before_the_data_says_so_instead_of_asking_for_an_update(self):
        with pytest.raises(DateError, match="--as-of 1990-01-01 is before the first stored session 2018-06-01") as caught:
            dates.check_as_of("1990-01-01", self.first, self.last, now=NOW)
        assert "run `sensex data update`" not in str(caught.value)

    def test_after_stale_data_asks_for_an_update(self):
        # The store ends 2021-12-31 (a Friday): Monday 2022-01-03 is missing, so an as-of from it on would
        # silently be answered from older data.
        assert dates.check_as_of("2022-01-02", self.first, "2021-12-31", now=NOW) == date(2022, 1, 2)
        with pytest.raises(DateError, match="is after the last stored session 2021-12-31: run `sensex data update`") as caught:
            dates.check_as_of("2022-01-03", self.first, "2021-12-31", now=NOW)
        # Offline the update changes nothing: the message names the CSV import too.
        assert "(offline, import newer CSV files with `sensex data update --source csv --csv-dir DIR`)" in str(caught.value)

    def test_malformed_as_of_is_refused_first(self):
        with pytest.raises(DateError, match="not a real date"):
            dates.check_as_of("2026-02-30", self.first, self.last, now=NOW)


def test_next_session_of_the_fixed_clock_is_monday():
    assert calendar.next_session(pd.Timestamp("2026-11-27")) == pd.Timestamp("2026-11-30")


class TestConfigSegments:
    def test_yaml_dates_become_iso_text(self):
        config = config_from_dict({"train": {"train_end": date(2020, 12, 31), "valid_end": "2021-06-30"}}, "t")
        assert (config.train.train_end, config.train.valid_end) == ("2020-12-31", "2021-06-30")

    @pytest.mark.parametrize(("value", "why"), [
        ("2020-13-01", "not a real date: the month must be 01 to 12"),
        ("2021-02-29", "not a real date: February 2021 has 28 days"),
        ("31/12/2020", "not a date in YYYY-MM-DD form"),
        ("20201231", "not a date in YYYY-MM-DD form"),  # datetime.fromisoformat would take it
        ("2020-12-31T00:00", "not a date in YYYY-MM-DD form"),
        ("end of 2020", "not a date in YYYY-MM-DD form"),
    ])
    def test_bad_segment_dates_are_refused_naming_the_field(self, value, why):
        with pytest.raises(ConfigError, match=f"config: train.train_end = '{value}' is not allowed \\({why}"):
            config_from_dict({"train": {"train_end": value, "valid_end": "2021-06-30"}}, "t")

    def test_segment_dates_given_as_options_go_through_the_same_rules(self):
        config = config_from_dict({}, "t")
        with pytest.raises(DateError, match="--train-end 2020-02-30 is not a real date: February 2020 has 29 days"):
            config.with_segments(train_end="2020-02-30")
        assert config.with_segments(train_end="2020-02-28", valid_end="2020-06-30").train.train_end == "2020-02-28"


def test_a_rolled_back_as_of_is_named_with_its_reason():
    from sensex.market.dates import rolled_back_notice

    assert rolled_back_notice(None, "2021-12-17") is None and rolled_back_notice("2021-12-17", "2021-12-17") is None
    assert rolled_back_notice("2021-12-18", "2021-12-17").startswith("2021-12-18 is a Saturday, not a session")
    holiday = rolled_back_notice("2021-11-05", "2021-11-04")  # Diwali Balipratipada: a Friday without a session
    assert "not a stored BSE session (a holiday" in holiday and holiday.endswith("before it, 2021-11-04.")
