"""The S&P 500 context series reaches the store from every source, on New York dates."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sensex.data import store
from sensex.data.ingest import update_store
from sensex.data.sources import synthetic, yahoo
from sensex.data.sources.csvfiles import load_directory
from sensex.market import context

SP500 = context.SP500.symbol
GLOBAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "global"


def test_synthetic_update_stores_the_sp500_and_the_bse_last_date(home, universe):
    # 2021-07-21 is a BSE holiday and a NYSE session: the store's last BSE session is 07-20.
    result = update_store(home, universe, "synthetic", start="2021-03-01", end="2021-07-21",
                          yahoo_reachable=lambda: False)
    stored = store.read(home.store_dir)
    sp500 = stored[stored["symbol"] == SP500]
    assert pd.DatetimeIndex(sp500["date"]).equals(context.sessions(context.SP500, "2021-03-01", "2021-07-21"))
    assert result["last_date"] == store.read_meta(home.store_dir)["last_date"] == "2021-07-20"
    assert result["quality"]["context"][SP500]["pre_open_ready"]
    assert SP500 not in result["quality"]["unknown_symbols"]


def test_an_older_store_without_the_sp500_gets_its_whole_history(home, universe):
    old = synthetic.generate(universe, "2021-01-04", "2021-06-30")
    store.write(home.store_dir, old, "synthetic")
    update_store(home, universe, "synthetic", end="2021-07-09", yahoo_reachable=lambda: False)
    sp500 = store.read(home.store_dir, symbols=[SP500])
    assert sp500["date"].min() == pd.Timestamp("2021-01-04") and sp500["date"].max() == pd.Timestamp("2021-07-09")


@pytest.mark.parametrize("name", ["GSPC.csv", "^GSPC.csv"])
def test_csv_folder_imports_gspc_beside_the_members(tmp_path, universe, name):
    (tmp_path / name).write_text(
        "Date,Open,High,Low,Close,Adj Close,Volume\n"
        "2021-07-01,4300,4320,4290,4319.94,4319.94,3000000000\n"
        "2021-07-02,4320,4355,4318,4352.34,4352.34,2800000000\n"
    )
    (tmp_path / "BSESN.csv").write_text(
        "Date,Open,High,Low,Close,Adj Close,Volume\n2021-07-02,52400,52500,52300,52484.67,52484.67,7000\n"
    )
    result = load_directory(tmp_path, universe, today=pd.Timestamp("2021-07-10"))
    assert result.files_rejected == [] and result.problems == []
    sp500 = result.frame[result.frame["symbol"] == SP500]
    assert sp500["date"].tolist() == [pd.Timestamp("2021-07-01"), pd.Timestamp("2021-07-02")]
    assert sp500["close"].tolist() == [4319.94, 4352.34]


def test_real_gspc_file_imports_whole(universe, tmp_path):
    if not (GLOBAL / "GSPC.csv").is_file():
        pytest.skip(f"{GLOBAL}/GSPC.csv is absent: the real S&P 500 file lives in ../shared/data/global")
    (tmp_path / "GSPC.csv").symlink_to(GLOBAL / "GSPC.csv")
    result = load_directory(tmp_path, universe)
    sp500 = result.frame[result.frame["symbol"] == SP500]
    assert len(sp500) == 6799 and result.files_rejected == []
    assert sp500.set_index("date").loc["2020-03-23", "close"] == pytest.approx(2237.40, abs=0.01)


@pytest.mark.parametrize("ignore_tz", [True, False])
def test_yahoo_fetches_gspc_on_new_york_dates(universe, ignore_tz):
    days = context.sessions(context.SP500, "2021-06-28", "2021-07-09")  # 07-05 is a US holiday
    bse_days = pd.bdate_range("2021-06-28", "2021-07-09")

    def history(dates, tz, level):
        index = pd.DatetimeIndex(dates).tz_localize(tz)
        close = level * np.linspace(1.0, 1.05, len(dates))
        return pd.DataFrame({"Open": close, "High": close * 1.01, "Low": close * 0.99, "Close": close,
                             "Adj Close": close, "Volume": 1e6}, index=index)

    frames = {"^GSPC": history(days, "America/New_York", 4300.0), "^BSESN": history(bse_days, "Asia/Kolkata", 52000.0)}
    asked: list[list[str]] = []

    def download(tickers, **kwargs):
        asked.append(list(tickers))
        parts = {}
        for ticker in tickers:
            frame = frames[ticker].copy()
            # yfinance keeps each exchange's local dates when it ignores time zones, else UTC.
            frame.index = frame.index.tz_localize(None) if ignore_tz else frame.index.tz_convert("UTC")
            parts[ticker] = frame
        index = parts[tickers[0]].index
        for frame in parts.values():
            index = index.union(frame.index)
        data = pd.concat({t: f.reindex(index) for t, f in parts.items()}, axis=1, names=["Ticker", "Price"])
        return data.swaplevel(0, 1, axis=1).sort_index(axis=1)

    result = yahoo.fetch(universe, "2021-06-28", "2021-07-09", downloader=download, symbols=["SENSEX", SP500],
                         rng=random.Random(0), sleep=lambda s: None)
    assert asked[0] == ["^BSESN", "^GSPC"]
    sp500 = result.frame[result.frame["symbol"] == SP500]
    assert pd.DatetimeIndex(sp500["date"]).equals(days)
