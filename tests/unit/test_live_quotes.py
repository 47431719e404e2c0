"""Live quotes from recorded yfinance intraday frames played back (no network): an empty answer,
a partial day, a day with a missing member; the 5-minute cache; offline behaviour."""

from __future__ import annotations

import pandas as pd
import pytest
from intraday_frames import Recorded, yf_frame

from sensex.core.cache import PRICE_TTL, MemoryCache
from sensex.core.settings import load_settings
from sensex.data import market_status, store
from sensex.data.sources import intraday
from sensex.market.universe import load_universe

UNIVERSE = load_universe()


def bars_of(frame) -> pd.DataFrame:
    return intraday.fetch_bars(UNIVERSE, Recorded(frame))


def test_an_empty_answer_is_no_live_quote_with_a_reason():
    live, reason = intraday.summarize(bars_of(None), UNIVERSE)
    assert live is None
    assert reason.startswith("Yahoo Finance returned no intraday bars for the SENSEX index (^BSESN)")
    assert reason.count(".") == 1  # one sentence


def test_a_partial_day_gives_level_change_and_the_bars_so_far():
    # Monday 2024-11-04 from the open to 10:55 (21 bars), after Thursday's full session (75 bars).
    frame = yf_frame({"2024-10-31": 75, "2024-11-04": 21}, {"^BSESN": 80000.0})
    live, reason = intraday.summarize(bars_of(frame), UNIVERSE)
    assert reason is None
    assert live["session"] == "2024-11-04" and len(live["bars"]) == 21
    assert live["as_of"] == "2024-11-04T10:55:00+05:30"  # the last bar's start, exchange-local
    assert live["bars"][0]["time"] == "2024-11-04T09:15:00+05:30"
    assert live["level"] == pytest.approx(80000.0 * 1.001 ** 95)
    previous = 80000.0 * 1.001 ** 74  # Thursday's last bar
    assert live["change"] == pytest.approx(live["level"] - previous)
    assert live["change_pct"] == pytest.approx((1.001 ** 21 - 1) * 100)
    assert live["breadth"] == {"advancing": 30, "declining": 0, "unchanged": 0, "missing": 0}
    assert len(live["members"]) == 30 and live["missing_members"] == []
    assert {"symbol", "name", "sector", "last", "change_pct"} <= set(live["members"][0])


def test_a_day_with_a_missing_member():
    absent, blank = UNIVERSE.symbols[0], UNIVERSE.symbols[1]
    frame = yf_frame({"2024-10-31": 3, "2024-11-04": 5}, {}, drift=-0.001, drop=(absent,), nan_today=(blank,))
    live, _ = intraday.summarize(bars_of(frame), UNIVERSE)
    assert live["missing_members"] == [absent, blank]
    assert live["breadth"] == {"advancing": 0, "declining": 28, "unchanged": 0, "missing": 2}
    assert absent not in {m["symbol"] for m in live["members"]}


def test_stored_closes_are_the_previous_close_and_a_utc_index_is_read_in_ist():
    frame = yf_frame({"2024-11-04": 4}, {"^BSESN": 80000.0}, drift=0.0, tz="UTC")
    live, _ = intraday.summarize(bars_of(frame), UNIVERSE, {"SENSEX": 79000.0})
    assert live["as_of"] == "2024-11-04T09:30:00+05:30"
    assert live["change"] == pytest.approx(1000.0)
    assert live["members"][0]["change_pct"] is None  # no previous close anywhere: no made-up change
    assert live["breadth"]["missing"] == 30


def test_fetch_asks_for_five_minute_bars_of_the_index_and_members():
    recorded = Recorded(None)
    intraday.fetch_bars(UNIVERSE, recorded)
    call = recorded.calls[0]
    assert call["interval"] == "5m" and call["period"] == "5d" and call["prepost"] is False
    assert "^BSESN" in call["tickers"] and len(call["tickers"]) == 31


@pytest.fixture
def real_home(tmp_path):
    """A home whose store holds real (not synthetic) index closes, so live quotes are allowed."""
    settings = load_settings({"SENSEX_HOME": str(tmp_path / "home")})
    rows = pd.DataFrame({"date": pd.to_datetime(["2024-10-30", "2024-10-31"]), "symbol": "SENSEX",
                         "open": 79000.0, "high": 79500.0, "low": 78500.0, "close": [79500.0, 79000.0],
                         "adj_close": [79500.0, 79000.0], "volume": 0.0})
    store.write(settings.store_dir, rows, "yfinance")
    return settings


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_live_quote_is_cached_for_the_price_ttl(real_home):
    clock = Clock()
    cache = MemoryCache(clock=clock)
    recorded = Recorded(yf_frame({"2024-11-04": 10}, {"^BSESN": 80000.0}, drift=0.0))
    first = market_status.live_quote(real_home, UNIVERSE, cache, recorded, reachable=lambda: True)
    assert first[1] is None and first[0]["change"] == pytest.approx(1000.0)  # against the stored close of 10-31
    clock.now = PRICE_TTL - 1
    assert market_status.live_quote(real_home, UNIVERSE, cache, recorded, reachable=lambda: True) == first
    assert len(recorded.calls) == 1
    clock.now = PRICE_TTL + 1
    market_status.live_quote(real_home, UNIVERSE, cache, recorded, reachable=lambda: True)
    assert len(recorded.calls) == 2
    assert store.read(real_home.store_dir)["date"].max() == pd.Timestamp("2024-10-31")  # never written to the store


def test_offline_there_is_no_live_quote_and_yahoo_is_not_asked(real_home):
    recorded = Recorded(None)
    live, reason = market_status.live_quote(real_home, UNIVERSE, MemoryCache(), recorded, reachable=lambda: False)
    assert live is None and recorded.calls == []
    assert reason.startswith("Yahoo Finance is unreachable (offline?)")


def test_a_failing_or_empty_yahoo_is_a_reason_not_an_error(real_home):
    live, reason = market_status.live_quote(real_home, UNIVERSE, MemoryCache(), Recorded(RuntimeError("HTTP 429")),
                                            reachable=lambda: True)
    assert live is None and reason.startswith("Yahoo Finance failed (RuntimeError: HTTP 429)")
    live, reason = market_status.live_quote(real_home, UNIVERSE, MemoryCache(), Recorded(None), reachable=lambda: True)
    assert live is None and "no intraday bars" in reason


@pytest.mark.parametrize("source", ["synthetic", "csv"])
def test_a_synthetic_or_csv_setup_never_goes_online(tmp_path, source):
    settings = load_settings({"SENSEX_HOME": str(tmp_path / "home"), "SENSEX_DATA_SOURCE": source})

    def unreachable_by_contract() -> bool:
        raise AssertionError("the network was asked")

    live, reason = market_status.live_quote(settings, UNIVERSE, MemoryCache(), Recorded(None), unreachable_by_contract)
    assert live is None and f"SENSEX_DATA_SOURCE is {source}" in reason


def test_the_market_status_contract(real_home):
    from datetime import datetime

    from sensex.market.calendar import IST

    status = market_status.market_status(real_home, UNIVERSE, now=datetime(2024, 11, 4, 12, 0, tzinfo=IST),
                                         cache=MemoryCache(), reachable=lambda: False)
    assert set(status) >= {"clock", "live", "live_reason", "last_close", "preferred_mode"}
    assert set(status["clock"]) >= {"state", "now", "session", "next_open", "last_completed"}
    assert status["clock"]["state"] == "open" and set(status["clock"]["session"]) == {"date", "open", "close"}
    assert status["live"] is None and status["live_reason"]
    assert status["last_close"] == {"date": "2024-10-31", "level": 79000.0, "change": -500.0,
                                    "change_pct": pytest.approx(-500 / 795), "source": "yfinance", "synthetic": False}
    assert "No live quote: Yahoo Finance is unreachable" in market_status.render(status)
    assert "Last stored close: 79,000.00 -500.00 (-0.63%) on 2024-10-31." in market_status.render(status)
