"""Data contract of the CSV source: layouts, symbols, bad rows and bad files."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from bench_scripts import REAL_GLOBAL, REAL_SENSEX

from sensex.core.errors import DataSourceError
from sensex.data.sources.csvfiles import MAX_ROW_PROBLEMS, load_directory
from sensex.data.sources.synthetic import generate
from sensex.market import calendar
from sensex.market.context import CONTEXT_SERIES, SP500
from sensex.market.schema import COLUMNS
from sensex.market.universe import load_universe

REAL_DATA = REAL_SENSEX
TODAY = pd.Timestamp("2024-07-01")

PLAIN = (
    "Date,Open,High,Low,Close,Adj Close,Volume\n"
    "2024-06-24,100,110,95,105,104,1000\n"
    "2024-06-25,105,112,101,110,109,1200\n"
    "2024-06-26,110,115,108,112,111,900\n"
)


@pytest.fixture(scope="module")
def universe():
    return load_universe("sensex")


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def load(directory: Path, universe):
    return load_directory(directory, universe, today=TODAY)


def rows_of(result, symbol: str) -> pd.DataFrame:
    return result.frame[result.frame["symbol"] == symbol].reset_index(drop=True)


def problems_of(result, name: str) -> list[dict]:
    return [p for p in result.problems if p["file"] == name]


# --- layouts -------------------------------------------------------------------------------


def test_yfinance_two_line_header_index_file(tmp_path, universe):
    write(
        tmp_path,
        "BSESN.csv",
        "Date,Close,High,Low,Open,Volume\n"
        ",^BSESN,^BSESN,^BSESN,^BSESN,^BSESN\n"
        "2021-12-30,57794.32,58010.03,57578.98,57755.39,7300\n"
        "2021-12-31,58253.82,58409.30,57846.51,57849.76,0\n",
    )
    result = load(tmp_path, universe)
    assert result.files_read == ["BSESN.csv"] and result.files_rejected == []
    assert result.problems == []
    index = rows_of(result, "SENSEX")
    assert list(result.frame.columns) == COLUMNS
    assert index["date"].tolist() == [pd.Timestamp("2021-12-30"), pd.Timestamp("2021-12-31")]
    assert index.loc[1, ["open", "high", "low", "close", "volume"]].tolist() == [
        57849.76,
        58409.30,
        57846.51,
        58253.82,
        0.0,
    ]
    assert (index["adj_close"] == index["close"]).all()  # no Adj Close column: adj = close


def test_yfinance_three_line_header_symbol_from_ticker_line(tmp_path, universe):
    write(
        tmp_path,
        "prices.csv",  # the name says nothing: the ticker line decides
        "Price,Adj Close,Close,High,Low,Open,Volume\n"
        "Ticker,M&M.NS,M&M.NS,M&M.NS,M&M.NS,M&M.NS,M&M.NS\n"
        "Date,,,,,,\n"
        "1996-01-01,25.12,40.77,41.44,40.77,41.43,3600\n"
        "1996-01-02,24.77,40.19,40.69,40.01,40.77,15600\n",
    )
    result = load(tmp_path, universe)
    assert result.files_read == ["prices.csv"]
    mm = rows_of(result, "MM")
    assert len(mm) == 2 and set(result.frame["symbol"]) == {"MM"}
    first = mm.iloc[0]
    assert (first["open"], first["high"], first["low"], first["close"]) == (
        41.43,
        41.44,
        40.77,
        40.77,
    )
    assert first["adj_close"] == 25.12 and first["volume"] == 3600


def test_yfinance_multiindex_csv_round_trips(tmp_path, universe):
    """A frame in yfinance's exact shape (Price x Ticker columns), saved with to_csv."""
    synthetic = generate(universe, "2024-01-01", "2024-03-29", seed=5)
    member = universe.members[0]
    own = synthetic[synthetic["symbol"] == member.symbol].set_index("date")
    columns = pd.MultiIndex.from_product(
        [["Adj Close", "Close", "High", "Low", "Open", "Volume"], [member.yahoo_ns]],
        names=["Price", "Ticker"],
    )
    table = pd.DataFrame(
        own[["adj_close", "close", "high", "low", "open", "volume"]].to_numpy(),
        index=own.index.rename("Date"),
        columns=columns,
    )
    table.to_csv(tmp_path / "anything.csv")
    assert (tmp_path / "anything.csv").read_text().splitlines()[2].startswith("Date,")
    result = load(tmp_path, universe)
    got = rows_of(result, member.symbol)
    expected = own.reset_index()[COLUMNS]
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-12)


def test_plain_layout_any_column_order_and_case(tmp_path, universe):
    write(
        tmp_path,
        "infy.csv",
        "volume,CLOSE,adj_close,date,Open,HIGH,low\n"
        "1000,105,104,2024-06-24,100,110,95\n"
        "1200,110,109,2024-06-25,105,112,101\n",
    )
    result = load(tmp_path, universe)
    infy = rows_of(result, "INFY")
    assert infy.loc[0, ["open", "high", "low", "close", "adj_close", "volume"]].tolist() == [
        100,
        110,
        95,
        105,
        104,
        1000,
    ]


def test_plain_layout_without_adj_close(tmp_path, universe):
    write(tmp_path, "TCS.csv", "Date,Open,High,Low,Close,Volume\n2024-06-24,1,2,0.5,1.5,10\n")
    tcs = rows_of(load(tmp_path, universe), "TCS")
    assert tcs.loc[0, "adj_close"] == tcs.loc[0, "close"] == 1.5


@pytest.mark.parametrize(
    "file_name, symbol",
    [
        ("MM.csv", "MM"),
        ("M&M.NS.csv", "MM"),
        ("RELIANCE.BO.csv", "RELIANCE"),
        ("reliance.csv", "RELIANCE"),
        ("BSESN.csv", "SENSEX"),
        ("^BSESN.csv", "SENSEX"),
        ("SENSEX.csv", "SENSEX"),
    ],
)
def test_symbol_from_file_name(tmp_path, universe, file_name, symbol):
    write(tmp_path, file_name, PLAIN)
    result = load(tmp_path, universe)
    assert set(result.frame["symbol"]) == {symbol}
    assert len(result.frame) == 3


@pytest.mark.parametrize(
    "ticker_line, header_first",
    [
        ("Ticker,TCS.BO,TCS.BO,TCS.BO,TCS.BO,TCS.BO,TCS.BO", False),  # after the header
        ("Symbol,TCS.NS,TCS.NS,TCS.NS,TCS.NS,TCS.NS,TCS.NS", True),  # before the header
        (",TCS.NS,TCS.NS,TCS.NS,TCS.NS,TCS.NS,TCS.NS", False),  # yfinance's blank first cell
    ],
)
def test_ticker_line_wins_over_file_name(tmp_path, universe, ticker_line, header_first):
    header, *body = PLAIN.splitlines()
    lines = [ticker_line, header] if header_first else [header, ticker_line]
    write(tmp_path, "INFY.csv", "\n".join([*lines, *body]) + "\n")
    result = load(tmp_path, universe)
    assert set(result.frame["symbol"]) == {"TCS"}
    assert len(result.frame) == 3 and result.problems == []


def test_symbol_column_splits_rows(tmp_path, universe):
    write(
        tmp_path,
        "mixed.csv",
        "Date,Symbol,Open,High,Low,Close,Volume\n"
        "2024-06-24,ITC.NS,400,410,395,405,10\n"
        "2024-06-24,SBIN.BO,800,810,790,805,20\n"
        "2024-06-24,NOTAMEMBER.NS,1,2,1,2,30\n",
    )
    result = load(tmp_path, universe)
    assert sorted(result.frame["symbol"]) == ["ITC", "SBIN"]
    assert any("NOTAMEMBER.NS" in p["problem"] for p in problems_of(result, "mixed.csv"))


def test_several_tickers_in_one_yfinance_file(tmp_path, universe):
    write(
        tmp_path,
        "batch.csv",
        "Price,Close,Close,High,High,Low,Low,Open,Open,Volume,Volume\n"
        "Ticker,ITC.NS,TCS.NS,ITC.NS,TCS.NS,ITC.NS,TCS.NS,ITC.NS,TCS.NS,ITC.NS,TCS.NS\n"
        "Date,,,,,,,,,,\n"
        "2024-06-24,405,3805,410,3810,395,3790,400,3800,10,20\n"
        "2024-06-25,,3815,,3820,,3800,,3810,,25\n",  # ITC not trading yet: not an error
    )
    result = load(tmp_path, universe)
    assert result.problems == []
    assert len(rows_of(result, "ITC")) == 1
    tcs = rows_of(result, "TCS")
    assert tcs["close"].tolist() == [3805, 3815] and tcs["high"].tolist() == [3810, 3820]


def test_other_date_formats_and_thousands_separators(tmp_path, universe):
    write(
        tmp_path,
        "LT.csv",
        "Date,Open,High,Low,Close,Volume\n"
        '24-06-2024,"3,500.5","3,600",3400,"3,550.25",1000\n'
        '25-06-2024,"3,550",3610,3500,3600,1100\n',
    )
    lt = rows_of(load(tmp_path, universe), "LT")
    assert lt["date"].tolist() == [pd.Timestamp("2024-06-24"), pd.Timestamp("2024-06-25")]
    assert lt.loc[0, "open"] == 3500.5 and lt.loc[0, "close"] == 3550.25


# --- bad input -----------------------------------------------------------------------------


def test_bad_rows_are_dropped_and_reported_by_file_and_row(tmp_path, universe):
    write(tmp_path, "ITC.csv", PLAIN)
    write(
        tmp_path,
        "SBIN.csv",
        "Date,Open,High,Low,Close,Adj Close,Volume\n"  # line 1
        "2024-06-20,100,110,95,105,104,1000\n"  # 2 good (replaced by line 10)
        "not-a-date,100,110,95,105,104,1000\n"  # 3 garbage date
        "2024-06-21,100,abc,95,105,104,1000\n"  # 4 garbage number
        "2024-06-24,100,110,95,105,104,1000,99\n"  # 5 too many fields
        "\n"  # 6 blank: ignored
        "2024-06-25,-100,110,95,105,104,1000\n"  # 7 negative price
        "2024-06-26,0,0,0,0,0,0\n"  # 8 zero prices
        "2099-01-01,100,110,95,105,104,1000\n"  # 9 future date
        "2024-06-20,101,111,96,106,105,1100\n"  # 10 duplicate date: the later row wins
        "2024-06-27,100,110,95\n"  # 11 missing fields
        "2024-06-28,100,110,95,105,104,1000\n",  # 12 good
    )
    result = load(tmp_path, universe)
    assert result.files_read == ["ITC.csv", "SBIN.csv"]
    assert len(rows_of(result, "ITC")) == 3  # the good file still imports
    sbin = rows_of(result, "SBIN")
    assert sbin["date"].dt.strftime("%Y-%m-%d").tolist() == ["2024-06-20", "2024-06-28"]
    assert sbin.loc[0, "close"] == 106  # the later duplicate row

    listed = {p["row"]: p["problem"] for p in problems_of(result, "SBIN.csv") if p["row"]}
    assert set(listed) == {2, 3, 4, 5, 7, 8, 9, 11}
    assert "not-a-date" in listed[3]
    assert "high 'abc'" in listed[4]
    assert "too many fields" in listed[5]
    assert "negative" in listed[7] and "negative" in listed[8]
    assert "after today" in listed[9]
    assert "appears again" in listed[2]
    assert "not a number" in listed[11]
    summary = [p for p in problems_of(result, "SBIN.csv") if p["row"] is None]
    assert len(summary) == 1 and "dropped 8 of 10 rows" in summary[0]["problem"]
    assert problems_of(result, "ITC.csv") == []


def test_row_listing_is_capped_per_file_with_a_count(tmp_path, universe):
    body = "".join(f"garbage{i},1,2,3,4,5\n" for i in range(50))
    write(tmp_path, "TITAN.csv", "Date,Open,High,Low,Close,Volume\n2024-06-24,1,2,1,2,3\n" + body)
    result = load(tmp_path, universe)
    found = problems_of(result, "TITAN.csv")
    assert len([p for p in found if p["row"] is not None]) == MAX_ROW_PROBLEMS
    summary = found[-1]
    assert summary["row"] is None
    assert "dropped 50 of 51 rows" in summary["problem"]
    assert f"{50 - MAX_ROW_PROBLEMS} of them not listed" in summary["problem"]
    assert len(rows_of(result, "TITAN")) == 1


@pytest.mark.parametrize(
    "file_name, text, words",
    [
        ("ITC.csv", "", "is empty"),
        ("ITC.csv", "\n\n  \n", "is empty"),
        ("ITC.csv", "Date,Open,High,Low,Close,Volume\n", "header but no rows"),
        ("ITC.csv", "when,what,how much\n2024-01-01,a,1\n", "no header line"),
        ("ITC.csv", "Date,Open,Close\n2024-01-01,1,2\n", "lacks the columns high, low, volume"),
        ("ITC.csv", "Date,Open,High,Low,Close,Volume\nx,y,z,,,\n", "no usable row"),
        ("NOTAMEMBER.csv", PLAIN, "NOTAMEMBER is not a symbol"),
        (
            "ITC.csv",
            (
                "Price,Close,High,Low,Open,Volume\nTicker,FOO.NS,FOO.NS,FOO.NS,FOO.NS,FOO.NS\n"
                "Date,,,,,\n2024-06-24,1,2,1,1,5\n"
            ),
            "ticker FOO.NS is not in",
        ),
    ],
)
def test_bad_files_are_rejected_by_name_while_good_files_import(
    tmp_path, universe, file_name, text, words
):
    write(tmp_path, "TCS.csv", PLAIN)
    write(tmp_path, file_name, text)
    result = load(tmp_path, universe)
    assert result.files_read == ["TCS.csv"]
    assert result.files_rejected == [file_name]
    rejection = problems_of(result, file_name)[-1]
    assert rejection["row"] is None
    assert rejection["problem"].startswith(file_name) and words in rejection["problem"]
    assert len(rows_of(result, "TCS")) == 3


def test_other_files_in_the_directory_are_ignored(tmp_path, universe):
    write(tmp_path, "TCS.csv", PLAIN)
    write(tmp_path, "README.md", "# notes\n")
    write(tmp_path, ".hidden.csv", "junk")
    (tmp_path / "sub.csv").mkdir()
    result = load(tmp_path, universe)
    assert result.files_read == ["TCS.csv"] and result.files_rejected == []


def test_two_files_for_one_symbol_keep_the_later_file_on_shared_dates(tmp_path, universe):
    write(tmp_path, "TCS.csv", PLAIN)
    header, *body = PLAIN.replace(",112,111,900", ",113,112,900").splitlines()
    ticker_line = "Ticker,TCS.NS,TCS.NS,TCS.NS,TCS.NS,TCS.NS,TCS.NS"
    write(tmp_path, "z_revised.csv", "\n".join([header, ticker_line, *body]) + "\n")
    result = load(tmp_path, universe)
    tcs = rows_of(result, "TCS")
    assert len(tcs) == 3 and tcs["close"].iloc[-1] == 113  # files are read in name order
    notes = [p["problem"] for p in result.problems]
    assert len(notes) == 1 and "rows from z_revised.csv are kept" in notes[0]


def test_missing_directory_raises_a_clear_error(tmp_path, universe):
    with pytest.raises(DataSourceError, match="does not exist: pass --csv-dir"):
        load(tmp_path / "nowhere", universe)


def test_directory_without_usable_file_raises(tmp_path, universe):
    with pytest.raises(DataSourceError, match="No usable CSV file"):
        load(tmp_path, universe)
    write(tmp_path, "ITC.csv", "")
    with pytest.raises(DataSourceError, match="ITC.csv is empty"):
        load(tmp_path, universe)


def test_default_today_rejects_future_rows(tmp_path, universe):
    tomorrow = (pd.Timestamp(calendar.now_ist().date()) + pd.Timedelta(days=1)).strftime("%Y-%m-%d")  # BSE's today
    write(tmp_path, "TCS.csv", PLAIN + f"{tomorrow},1,2,1,2,2,10\n")
    result = load_directory(tmp_path, universe)
    assert len(result.frame) == 3
    assert any(p["row"] == 5 and "after today" in p["problem"] for p in result.problems)


# --- sessions that have not closed: capped at the last completed one, as the other sources -----

# Mon 2024-07-01 at 14:00 IST: BSE is open (it closes at 15:30 and its bar settles by 16:30).
DURING_THE_SESSION = datetime(2024, 7, 1, 14, 0, tzinfo=calendar.IST)
AFTER_THE_BAR_SETTLED = datetime(2024, 7, 1, 16, 45, tzinfo=calendar.IST)
TODAYS_ROW = "2024-07-01,112,113,110,111,111,400\n"  # line 5: saved mid-session


def test_a_session_under_way_is_not_imported(tmp_path, universe, monkeypatch):
    monkeypatch.setattr(calendar, "now_ist", lambda: DURING_THE_SESSION)  # the clock the import reads
    write(tmp_path, "TCS.csv", PLAIN.replace("2024-06-26", "2024-06-28") + TODAYS_ROW)
    result = load_directory(tmp_path, universe)
    assert rows_of(result, "TCS")["date"].max() == pd.Timestamp("2024-06-28")
    listed = {p["row"]: p["problem"] for p in problems_of(result, "TCS.csv") if p["row"]}
    assert listed == {5: "date 2024-07-01 is after the last completed session (2024-06-28), so its prices are not"
                         " final; import the file again once that session has closed"}
    assert "sessions not closed yet: 1" in problems_of(result, "TCS.csv")[-1]["problem"]
    # Once the bar has settled the same row is the session's close.
    settled = load_directory(tmp_path, universe, now=AFTER_THE_BAR_SETTLED)
    assert rows_of(settled, "TCS")["date"].max() == pd.Timestamp("2024-07-01") and settled.problems == []


def test_the_sp500_is_capped_by_its_own_exchange(tmp_path, universe):
    """GSPC.csv is dated in New York: its Friday session closes at 16:00 EDT, 01:30 IST on Saturday."""
    write(tmp_path, "GSPC.csv", HEADER + "2024-06-27,5470,5490,5460,5482,5482,100\n2024-06-28,5480,5520,5470,5500,5500,90\n")
    write(tmp_path, "TCS.csv", PLAIN)
    friday_afternoon_in_new_york = datetime(2024, 6, 29, 0, 30, tzinfo=calendar.IST)
    during = load_directory(tmp_path, universe, now=friday_afternoon_in_new_york)
    assert rows_of(during, SP500.symbol)["date"].tolist() == [pd.Timestamp("2024-06-27")]
    assert [p["row"] for p in problems_of(during, "GSPC.csv") if p["row"]] == [3]
    settled = load_directory(tmp_path, universe, now=datetime(2024, 6, 29, 3, 0, tzinfo=calendar.IST))
    assert rows_of(settled, SP500.symbol)["date"].max() == pd.Timestamp("2024-06-28") and settled.problems == []


def test_data_update_from_csv_files_stores_no_session_under_way(tmp_path, universe, monkeypatch):
    from sensex.core.settings import load_settings
    from sensex.data import store
    from sensex.data.ingest import update_store

    monkeypatch.setattr(calendar, "now_ist", lambda: DURING_THE_SESSION)
    sessions = pd.bdate_range("2024-04-01", "2024-07-01")  # the last one is today, still trading
    folder = tmp_path / "csv"
    folder.mkdir()
    write(folder, "BSESN.csv", HEADER + "".join(_good_lines(sessions, 70000.0, seed=1)))
    write(folder, "TCS.csv", HEADER + "".join(_good_lines(sessions, 3800.0, seed=2)))
    settings = load_settings({"SENSEX_HOME": str(tmp_path / "home")})
    result = update_store(settings, universe, "csv", csv_dir=folder, yahoo_reachable=lambda: False)
    assert result["last_date"] == "2024-06-28"
    assert store.read(settings.store_dir)["date"].max() == pd.Timestamp("2024-06-28")
    assert any("2024-07-01 is after the last completed session" in p["problem"] for p in result["problems"]["TCS.csv"])


# --- the real files ------------------------------------------------------------------------

CONTEXT_FILES = {name for series in CONTEXT_SERIES for name in series.file_names}


def check_real_import(result, universe) -> None:
    """One file per symbol of the universe, every one read cleanly, and nothing else but context
    series (the getting-started guide puts GSPC.csv beside the member files)."""
    member_files = [name for name in result.files_read if name not in CONTEXT_FILES]
    assert len(member_files) == len(universe.all_symbols) and result.files_rejected == []
    assert result.problems == []
    context_read = {series.symbol for series in CONTEXT_SERIES if set(series.file_names) & set(result.files_read)}
    assert set(result.frame["symbol"]) == set(universe.all_symbols) | context_read


def test_real_directory_imports_every_file(universe):
    if not REAL_DATA.is_dir():
        pytest.skip(f"real SENSEX data not found at {REAL_DATA.resolve()} (set SENSEX_REAL_DATA)")
    result = load_directory(REAL_DATA, universe)
    check_real_import(result, universe)
    index = rows_of(result, "SENSEX")
    assert index["date"].min() == pd.Timestamp("2000-01-03")
    assert index["date"].max() == pd.Timestamp("2021-12-31")
    assert (index["adj_close"] == index["close"]).all()
    mm = rows_of(result, "MM")  # M&M.NS in MM.csv
    assert mm["date"].min() == pd.Timestamp("1996-01-01")
    assert not np.isclose(mm["adj_close"], mm["close"]).all()  # dividends are in Adj Close


def test_gspc_beside_the_real_member_files_is_the_sp500(tmp_path, universe):
    """The folder the getting-started guide describes: the member files and GSPC.csv together."""
    gspc = REAL_GLOBAL / "GSPC.csv"
    if not REAL_DATA.is_dir() or not gspc.is_file():
        pytest.skip(f"real data not found at {REAL_DATA.resolve()} and {gspc.resolve()} (set SENSEX_REAL_DATA)")
    for path in {path.name: path for path in [*REAL_DATA.glob("*.csv"), gspc]}.values():  # GSPC.csv may be there already
        (tmp_path / path.name).symlink_to(path.resolve())
    result = load_directory(tmp_path, universe)
    check_real_import(result, universe)
    assert "GSPC.csv" in result.files_read
    sp500 = rows_of(result, SP500.symbol).set_index("date")
    assert len(sp500) == 6799  # every NYSE session of the file, on New York dates
    assert sp500.index.min() == pd.Timestamp("1995-01-03") and sp500.index.max() == pd.Timestamp("2021-12-31")
    assert sp500.loc[pd.Timestamp("2008-10-15"), "close"] == pytest.approx(907.84, abs=0.01)


# --- refused prices: non-finite, absurd, and duplicates that would replace real rows -----------

HEADER = "Date,Open,High,Low,Close,Adj Close,Volume\n"


def _good_lines(sessions, level: float = 100.0, seed: int = 3) -> list[str]:
    """Plausible rows: a random walk near `level`, High above and Low below Open and Close."""
    rng = np.random.default_rng(seed)
    close = level * np.exp(np.cumsum(rng.normal(0, 0.01, len(sessions))))
    return [
        f"{day:%Y-%m-%d},{c * 0.998:.2f},{c * 1.01:.2f},{c * 0.99:.2f},{c:.2f},{c * 0.97:.2f},{1000 + i}\n"
        for i, (day, c) in enumerate(zip(sessions, close, strict=True))
    ]


def test_non_finite_and_absurd_prices_are_refused_by_row(tmp_path, universe):
    sessions = pd.bdate_range("2024-04-01", periods=40)
    good = _good_lines(sessions)
    bad = [
        "2024-06-03,100,101,99,inf,99,1000\n",  # line 42: close infinite
        "2024-06-04,100,101,-inf,100,99,1000\n",  # 43: low -infinite
        "2024-06-05,100,1e308,99,100,99,1000\n",  # 44: high 1e308
        "2024-06-06,100,101,99,100,99,inf\n",  # 45: volume infinite
        "2024-06-07,100,101,99,25000000,99,1000\n",  # 46: close above 10 million
        "2024-06-10,100,250000,99,100,99,1000\n",  # 47: high 2,500x the level
        "2024-06-11,0.5,0.6,0.4,0.5,0.49,1000\n",  # 48: every price 200x below
        "2024-06-12,100,101,99,100,0.001,1000\n",  # 49: Adj Close far below the Adj Close level
    ]
    write(tmp_path, "TCS.csv", HEADER + "".join(good + bad))
    result = load(tmp_path, universe)
    tcs = rows_of(result, "TCS")
    assert tcs["date"].tolist() == list(sessions)  # every good row kept, nothing else
    assert np.isfinite(tcs[["open", "high", "low", "close", "adj_close", "volume"]].to_numpy()).all()
    listed = {p["row"]: p["problem"] for p in problems_of(result, "TCS.csv") if p["row"]}
    assert set(listed) == set(range(42, 50))
    assert listed[42] == "close is infinite"
    assert listed[43] == "low is infinite"
    assert listed[44].startswith("high 1e+308 is above 10,000,000")
    assert listed[45] == "volume is infinite"
    assert listed[46].startswith("close 2.5e+07 is above 10,000,000")
    assert "high 250000 is" in listed[47] and "times above the median close" in listed[47]
    assert "times below the median close" in listed[48]
    assert listed[49].startswith("adj_close 0.001 is") and "below the median Adj Close" in listed[49]
    summary = [p["problem"] for p in problems_of(result, "TCS.csv") if p["row"] is None]
    assert len(summary) == 1
    assert "dropped 8 of 48 rows (infinite numbers: 3, absurd prices: 5)" in summary[0]


def test_a_level_change_the_market_can_make_is_kept(tmp_path, universe):
    """A 10:1 unadjusted split, a 50% crash and a slow 300x rise are prices, not typos."""
    sessions = pd.bdate_range("2010-01-01", periods=600)
    close = np.concatenate([np.full(200, 1000.0), np.full(200, 100.0), np.geomspace(100, 30000, 200)])
    close[100] = 500.0  # a one-day halving
    lines = [f"{d:%Y-%m-%d},{c},{c * 1.01},{c * 0.99},{c},{c},10\n" for d, c in zip(sessions, close, strict=True)]
    write(tmp_path, "LT.csv", HEADER + "".join(lines))
    result = load(tmp_path, universe)
    assert len(rows_of(result, "LT")) == 600 and result.problems == []


def test_a_duplicate_date_keeps_the_plausible_row(tmp_path, universe):
    sessions = pd.bdate_range("2024-04-01", periods=40)
    good = _good_lines(sessions)
    real = {line.split(",")[0]: float(line.split(",")[4]) for line in good}
    dates = [f"{d:%Y-%m-%d}" for d in sessions]
    extra = [
        f"{dates[5]},1e308,1e308,1e308,1e308,1e308,1000\n",  # 42: absurd duplicate, after the real row
        f"{dates[10]},3000,3100,2900,3000,2950,1000\n",  # 43: 30x the level: the real row is nearer
        f"{dates[20]},{real[dates[20]] * 1.01:.2f},{real[dates[20]] * 1.03:.2f},"
        f"{real[dates[20]] * 0.99:.2f},{real[dates[20]] * 1.01:.2f},{real[dates[20]] * 0.98:.2f},1500\n",  # 44: revision
    ]
    write(tmp_path, "INFY.csv", HEADER + "".join(good + extra))
    result = load(tmp_path, universe)
    infy = rows_of(result, "INFY").set_index("date")
    assert list(infy.index) == list(sessions)
    assert infy.loc[pd.Timestamp(dates[5]), "close"] == real[dates[5]]
    assert infy.loc[pd.Timestamp(dates[10]), "close"] == real[dates[10]]
    assert infy.loc[pd.Timestamp(dates[20]), "close"] == pytest.approx(real[dates[20]] * 1.01, abs=0.01)  # later wins
    listed = {p["row"]: p["problem"] for p in problems_of(result, "INFY.csv") if p["row"]}
    assert set(listed) == {42, 43, 22}  # line 22 holds the revised (replaced) row of dates[20]
    assert "is above 10,000,000" in listed[42]
    assert listed[43].startswith(f"date {dates[10]} appears more than once; the row at line 12 is kept")
    assert "this row's 3000" in listed[43]
    assert listed[22] == f"date {dates[20]} appears again further down; the later row is kept"


def test_symbol_status_after_importing_refused_rows(tmp_path, universe):
    """The store keeps only good rows: TCS stays valid with finite prices; a file of absurd rows
    leaves its symbol without data (invalid) instead of valid with inf prices."""
    from sensex.core.settings import load_settings
    from sensex.data import store
    from sensex.data.ingest import update_store

    sessions = pd.bdate_range("2024-04-01", periods=40)
    folder = tmp_path / "csv"
    folder.mkdir()
    write(folder, "BSESN.csv", HEADER + "".join(_good_lines(sessions, 70000.0, seed=1)))
    write(folder, "TCS.csv", HEADER + "".join(_good_lines(sessions, 3800.0, seed=2))
          + "2024-05-27,inf,inf,inf,inf,inf,10\n2024-05-28,1e308,1e308,1e308,1e308,1e308,10\n")
    write(folder, "ITC.csv", HEADER + "".join(f"{d:%Y-%m-%d},1e308,1e308,1e308,1e308,1e308,10\n" for d in sessions))
    settings = load_settings({"SENSEX_HOME": str(tmp_path / "home")})
    result = update_store(settings, universe, "csv", csv_dir=folder, yahoo_reachable=lambda: False)
    symbols = result["quality"]["symbols"]
    assert symbols["TCS"]["valid"] is True and symbols["TCS"]["rows"] == 40
    assert symbols["SENSEX"]["valid"] is True
    assert symbols["ITC"]["valid"] is False and symbols["ITC"]["excluded_by"] == ["no_data"]
    stored = store.read(settings.store_dir)
    assert np.isfinite(stored[["open", "high", "low", "close", "adj_close", "volume"]].to_numpy()).all()
    assert stored["close"].max() < 1e5
    refused = [p for p in result["problems"]["TCS.csv"] if p["row"] is not None]
    assert [p["row"] for p in refused] == [42, 43]
    assert "ITC.csv has no usable row (40 read, none kept)" in result["problems"]["ITC.csv"][-1]["problem"]


def test_two_rows_cannot_outvote_each_other_but_the_cap_still_applies(tmp_path, universe):
    write(tmp_path, "ITC.csv", HEADER + "2024-06-24,100,101,99,100,99,10\n2024-06-25,9e6,9e6,9e6,9e6,9e6,10\n")
    write(tmp_path, "SBIN.csv", HEADER + "2024-06-24,100,101,99,100,99,10\n2024-06-25,2e7,2e7,2e7,2e7,2e7,10\n")
    result = load(tmp_path, universe)
    assert len(rows_of(result, "ITC")) == 2  # which of the two is wrong cannot be told
    assert rows_of(result, "SBIN")["close"].tolist() == [100.0]
