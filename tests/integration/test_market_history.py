"""The index's price history and the market overview, in-process and through GET /market/history."""

import math

import pytest
from fastapi.testclient import TestClient

from sensex.data import store
from sensex.data.realtime_data import RealtimeDataFetcher
from sensex.interfaces.api import create_app

pytestmark = pytest.mark.integration


class NoCache:
    def get(self, key):
        return None

    def set(self, key, value, ttl):
        pass


@pytest.fixture(scope="module")
def fetcher(trained_home):
    return RealtimeDataFetcher(trained_home["settings"], cache=NoCache())


def test_index_history_has_the_last_sessions_and_their_moving_averages(fetcher, trained_home):
    bars = fetcher.get_index_history(250)
    index = store.read(trained_home["settings"].store_dir, symbols=[fetcher.universe.index_symbol])
    closes = index.set_index("date")["close"].sort_index()
    assert len(bars) == 250
    assert [b["date"] for b in bars] == [str(d.date()) for d in closes.index[-250:]]
    assert bars[-1]["date"] == "2021-12-31"
    assert set(bars[0]) == {"date", "open", "high", "low", "close", "volume", "sma_50", "sma_200"}
    # Averages over the whole stored history, not just the rows returned.
    assert bars[0]["sma_200"] == pytest.approx(closes.iloc[-250 - 199:-249].mean())
    assert bars[-1]["sma_50"] == pytest.approx(closes.iloc[-50:].mean())
    assert all(b["low"] <= min(b["open"], b["close"]) and b["high"] >= max(b["open"], b["close"]) for b in bars)


def test_a_short_history_has_no_average_until_it_has_enough_sessions(fetcher, trained_home):
    everything = fetcher.get_index_history(100_000)
    assert everything[0]["sma_50"] is None and everything[48]["sma_50"] is None
    assert everything[49]["sma_50"] is not None and everything[199]["sma_200"] is not None
    assert not any(isinstance(v, float) and math.isnan(v) for b in everything for v in b.values())


def test_gainers_rose_losers_fell_and_every_member_has_a_sector(fetcher):
    overview = fetcher.get_market_overview()
    assert overview["top_gainers"] and all(m["change_pct"] > 0 for m in overview["top_gainers"])
    assert all(m["change_pct"] < 0 for m in overview["top_losers"])
    assert len(overview["members"]) == 30
    assert all(m["sector"] and m["weight"] > 0 and m["name"] for m in overview["members"])
    changes = sorted(m["change_pct"] for m in overview["members"])
    assert [m["change_pct"] for m in overview["top_gainers"]] == changes[::-1][:len(overview["top_gainers"])]


def test_market_history_route(trained_home):
    with TestClient(create_app(trained_home["settings"])) as client:
        body = client.get("/market/history", params={"sessions": 5}).json()
        assert body["symbol"] == "SENSEX" and len(body["sessions"]) == 5
        assert body["sessions"][-1]["date"] == "2021-12-31"
        assert client.get("/market/history", params={"sessions": 0}).status_code == 422
        assert len(client.get("/market/history").json()["sessions"]) == 250
