"""Data contract of the CSV source: layouts, symbols, bad rows and bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sensex.errors import DataSourceError
from sensex.schema import COLUMNS
from sensex.sources.csv import MAX_ROW_PROBLEMS, load_directory
from sensex.sources.synthetic import generate
from sensex.universe import load_universe

REAL_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "sensex-real"
TODAY = pd.Timestamp("2024-07-01")

PLAIN = (
    "Date,Open,High,Low,Close,Adj Close,Volume\n"
    "2024-06-24,100,110,95,105,104,1000\n"
    "2024-06-25,105,112,101,110,109,1200\n"
    "2024-06-26,110,115,108,112,111,900\n"
)


@pytest.fixture(scope="module")
def universe():
    return load_universe()


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
    tomorrow = (pd.Timestamp.today().normalize() + pd.Timedelta(days=1)).strftime("%Y-%m-%d")
    write(tmp_path, "TCS.csv", PLAIN + f"{tomorrow},1,2,1,2,2,10\n")
    result = load_directory(tmp_path, universe)
    assert len(result.frame) == 3
    assert any(p["row"] == 5 and "after today" in p["problem"] for p in result.problems)


# --- the real files ------------------------------------------------------------------------


def test_real_directory_imports_every_file(universe):
    if not REAL_DATA.is_dir():
        pytest.skip(f"real SENSEX data not found at {REAL_DATA.resolve()} (../shared beside repo)")
    result = load_directory(REAL_DATA, universe)
    assert len(result.files_read) == 31 and result.files_rejected == []
    assert result.problems == []
    assert set(result.frame["symbol"]) == set(universe.all_symbols)
    index = rows_of(result, "SENSEX")
    assert index["date"].min() == pd.Timestamp("2000-01-03")
    assert index["date"].max() == pd.Timestamp("2021-12-31")
    assert (index["adj_close"] == index["close"]).all()
    mm = rows_of(result, "MM")  # M&M.NS in MM.csv
    assert mm["date"].min() == pd.Timestamp("1996-01-01")
    assert not np.isclose(mm["adj_close"], mm["close"]).all()  # dividends are in Adj Close
