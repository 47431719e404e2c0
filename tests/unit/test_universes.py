"""Universes are data: the shipped ones, user files, and the clear errors for bad ones."""

from __future__ import annotations

import pandas as pd
import pytest

from sensex.core.errors import ConfigError
from sensex.core.settings import get_settings
from sensex.data.sources import synthetic
from sensex.market import exchanges
from sensex.market.modes import registered_model
from sensex.market.universe import load_universe

HEADER = "symbol,yahoo_bo,yahoo_ns,name,sector,weight\n"
ROWS = "AAA,AAA.BO,AAA.NS,A Co,Energy,2\nBBB,BBB.BO,BBB.NS,B Co,Financials,1\n"


def write(tmp_path, text: str, name: str = "mine.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_shipped_universes():
    sensex, nifty = load_universe("sensex"), load_universe("NIFTY50")
    assert (sensex.name, sensex.key, sensex.index_symbol, sensex.index_yahoo, sensex.exchange) == (
        "SENSEX", "sensex", "SENSEX", "^BSESN", "XBOM")
    assert (nifty.key, nifty.index_symbol, nifty.index_yahoo, nifty.exchange) == ("nifty50", "NIFTY50", "^NSEI", "XNSE")
    assert len(sensex.members) == 30 and len(nifty.members) == 50
    assert nifty.yahoo_symbol("MM", "NS") == "M&M.NS" and nifty.yahoo_exchange == "NS"
    # Stocks in both are spelled alike, so the store keeps them once.
    assert len(set(sensex.symbols) & set(nifty.symbols)) == 30
    assert all(m.sector for m in nifty.members)


def test_the_environment_names_the_default_universe(monkeypatch):
    assert load_universe().key == "sensex"
    monkeypatch.setenv("SENSEX_UNIVERSE", "nifty50")
    get_settings.cache_clear()
    assert load_universe().key == "nifty50"


def test_a_users_file_with_its_header(tmp_path):
    path = write(tmp_path, "# name: Energy Pair\n# index_symbol: PAIR\n# index_yahoo: ^PAIR\n# exchange: xnys\n"
                 + HEADER + ROWS)
    universe = load_universe(str(path))
    assert (universe.key, universe.index_symbol, universe.exchange, universe.spec) == ("energy-pair", "PAIR", "XNYS", str(path))
    assert universe.symbols == ["AAA", "BBB"]
    plain = load_universe(write(tmp_path, HEADER + ROWS, "plain.csv"))  # no header: an index on BSE, as before
    assert (plain.name, plain.index_symbol, plain.exchange) == ("PLAIN", "SENSEX", "XBOM")


@pytest.mark.parametrize(("text", "expected"), [
    ("# exchange: XMARS\n" + HEADER + ROWS, "Unknown exchange 'XMARS'"),
    (HEADER, "lists no members"),
    ("", "not a readable CSV"),
    ("symbol,name\nAAA,A\n", "lacks columns"),
    (HEADER + ROWS + ROWS, "twice"),
    ("# index_symbol: AAA\n" + HEADER + ROWS, "both as its index and as a member"),
    (HEADER + "AAA,AAA.BO,AAA.NS,A Co,Energy,heavy\n", "gives AAA the weight 'heavy': use a number"),
    (HEADER + "AAA,AAA.BO,AAA.NS,A Co,Energy,2,extra\n", "not a readable CSV"),
])
def test_bad_universe_files_are_one_sentence(tmp_path, text, expected):
    with pytest.raises(ConfigError, match=expected) as error:
        load_universe(write(tmp_path, text))
    assert "\n" not in str(error.value)


def test_the_unknown_exchange_sentence_names_the_known_calendars(tmp_path):
    with pytest.raises(ConfigError) as error:
        load_universe(write(tmp_path, "# exchange: XMARS\n" + HEADER + ROWS))
    assert "XBOM" in str(error.value) and "XNSE" in str(error.value) and "XNYS" in str(error.value)


def test_unknown_names_and_missing_files(tmp_path):
    with pytest.raises(ConfigError, match="use one of sensex, nifty50"):
        load_universe("dowjones")
    with pytest.raises(ConfigError, match="does not exist"):
        load_universe(str(tmp_path / "absent.csv"))


def test_registered_model_names():
    assert registered_model("close") == "sensex-convlstm-model"
    assert registered_model("preopen") == "sensex-preopen-model"
    assert registered_model("close", "nifty50") == "nifty50-convlstm-model"
    assert registered_model("preopen", "nifty50") == "nifty50-preopen-model"


def test_nse_sessions_are_bse_sessions():
    assert exchanges.sessions("XNSE", "2024-01-01", "2024-12-31").equals(exchanges.sessions("XBOM", "2024-01-01", "2024-12-31"))
    assert exchanges.next_session("XNYS", "2024-12-24") == pd.Timestamp("2024-12-26")


def test_synthetic_market_per_universe(tmp_path):
    sensex, nifty = load_universe("sensex"), load_universe("nifty50")
    a = synthetic.generate(sensex, "2020-01-01", "2020-12-31")
    b = synthetic.generate(nifty, "2020-01-01", "2020-12-31")
    assert set(b["symbol"]) == {*nifty.symbols, "NIFTY50"}
    shared = a.merge(b, on=["date", "symbol"])
    # One market: a stock in both universes is the same series, whichever universe asks.
    assert shared["symbol"].nunique() == 30 and (shared["close_x"] == shared["close_y"]).all()
    assert synthetic.generate(nifty, "2020-01-01", "2020-12-31").equals(b)  # deterministic
    earlier = synthetic.generate(nifty, "2020-01-01", "2020-06-30")
    assert earlier.merge(b, on=["date", "symbol"]).pipe(lambda m: (m["close_x"] == m["close_y"]).all())  # prefix-stable
    assert not synthetic.generate(nifty, "2020-01-01", "2020-12-31", seed=8).equals(b)
    # Another exchange: its own calendar (no NYSE session on Thanksgiving; BSE trades that day).
    us = load_universe(write(tmp_path, "# index_symbol: PAIR\n# exchange: XNYS\n" + HEADER + ROWS))
    rows = synthetic.generate(us, "2020-11-20", "2020-11-30")
    assert pd.Timestamp("2020-11-26") not in set(rows["date"]) and pd.Timestamp("2020-11-26") in set(a["date"])
    assert set(rows["symbol"]) == {"AAA", "BBB", "PAIR"}
