"""The quality report checks the S&P 500 context series on NYSE's calendar, apart from readiness."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest

from sensex.data.quality import find_issues, validate_data_quality
from sensex.data.sources.synthetic import generate
from sensex.market import calendar, context
from sensex.market.universe import load_universe

START, END = "2023-01-02", "2024-06-28"  # END is a Friday session on both exchanges
AFTER_END = datetime(2024, 6, 28, 18, 0, tzinfo=calendar.IST)
SP500 = context.SP500.symbol


@pytest.fixture(scope="module")
def universe():
    return load_universe("sensex")


@pytest.fixture(scope="module")
def market(universe):
    return generate(universe, START, END, seed=3, with_context=True)


def test_sp500_on_its_own_calendar_is_clean_and_ready(market, universe):
    report = validate_data_quality(market, universe, now=AFTER_END)
    without = validate_data_quality(market[market["symbol"] != SP500], universe, now=AFTER_END)
    entry = report["context"][SP500]
    # 2023-07-04 and 2024-01-15 are BSE sessions and NYSE holidays: no missing session on XNYS.
    assert entry["issues"] == [] and entry["valid"] and entry["calendar"] == "XNYS"
    assert entry["pre_open_ready"] and entry["reason"] is None and entry["needed_last_date"] == "2024-06-28"
    assert SP500 not in report["unknown_symbols"] and SP500 not in report["symbols"]
    assert report["status"] == without["status"] == "valid"
    assert report["statistics"]["valid_symbols"] == without["statistics"]["valid_symbols"]


def test_a_missing_nyse_session_is_reported(market, universe):
    frame = market[~((market["symbol"] == SP500) & (market["date"] == "2023-07-05"))]
    found = {f["kind"]: f for f in find_issues(frame, universe)[SP500]}
    assert found["missing_sessions"]["count"] == 1
    assert found["missing_sessions"]["first"] == found["missing_sessions"]["last"] == "2023-07-05"


def test_sp500_ending_early_blocks_pre_open_only(market, universe):
    frame = market[~((market["symbol"] == SP500) & (market["date"] > "2024-06-20"))]
    report = validate_data_quality(frame, universe, now=AFTER_END)
    entry = report["context"][SP500]
    assert not entry["pre_open_ready"]
    assert "2024-06-20" in entry["reason"] and "2024-06-28" in entry["reason"]
    assert "offline, import newer CSV files with `sensex data update --source csv --csv-dir DIR`" in entry["reason"]
    assert entry["reason"] in report["warnings"]
    assert report["status"] == "valid"  # the close mode does not need it


def test_no_sp500_says_so_without_a_warning(market, universe):
    report = validate_data_quality(market[market["symbol"] != SP500], universe, now=AFTER_END)
    entry = report["context"][SP500]
    assert entry["rows"] == 0 and not entry["pre_open_ready"]
    assert "^GSPC" in entry["reason"] and "GSPC.csv in DIR" in entry["reason"]
    assert "offline, import newer CSV files with `sensex data update --source csv --csv-dir DIR`" in entry["reason"]
    assert not any("S&P" in w for w in report["warnings"])


def test_real_sp500_file_checks_clean(universe):
    from pathlib import Path

    path = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "global" / "GSPC.csv"
    if not path.is_file():
        pytest.skip(f"{path} is absent: the real S&P 500 file lives in ../shared/data/global")
    raw = pd.read_csv(path)
    frame = pd.DataFrame({
        "date": pd.to_datetime(raw["Date"]), "symbol": SP500, "open": raw["Open"], "high": raw["High"],
        "low": raw["Low"], "close": raw["Close"], "adj_close": raw["Adj Close"], "volume": raw["Volume"],
    })
    found = {f["kind"]: f for f in find_issues(frame, universe)[SP500]}
    # 6,799 rows, one per NYSE session from 1995-01-03 to 2021-12-31 (the data's own README counts them).
    assert len(frame) == 6799 and "missing_sessions" not in found
