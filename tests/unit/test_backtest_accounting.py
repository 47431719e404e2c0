"""The backtest's accounting pinned on a five-session example computed by hand.

Account ₹10,00,000; futures of 100 units a lot; 10 bp slippage; ₹20 brokerage an order; STT 0.01%
of the sell value until 3 March 2021 and 0.02% from 4 March (so both rates are used); stamp duty
0.002% of the buy value; GST 18% of the brokerage. Index closes 1000, 1010, 1000, 1020, 1030, 1020
on 1-8 March 2021; rule long_short on P(UP) 0.6, 0.6, 0.4, 0.7, 0.3 (long, long, short, long, short).
Every figure below was worked out on paper from those inputs; none is recomputed by the code.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sensex.backtest.costs import load_costs
from sensex.backtest.run import run_backtest

COSTS = """
capital_rupees: 1000000
instruments:
  futures:
    name: test futures
    kind: futures
    lot_size: [{from: 2000-01-01, value: 100, source: test}]
    slippage_bps: [{from: 2000-01-01, value: 10, source: test}]
    brokerage_rupees: [{from: 2000-01-01, value: 20, source: test}]
    brokerage_cap_pct: [{from: 2000-01-01, value: 0, source: test}]
    stt_buy_pct: [{from: 2000-01-01, value: 0, source: test}]
    stt_sell_pct: [{from: 2000-01-01, value: 0.01, source: test}, {from: 2021-03-04, value: 0.02, source: test}]
    exchange_txn_pct: [{from: 2000-01-01, value: 0, source: test}]
    sebi_fee_pct: [{from: 2000-01-01, value: 0, source: test}]
    stamp_buy_pct: [{from: 2000-01-01, value: 0.002, source: test}]
    stamp_sell_pct: [{from: 2000-01-01, value: 0, source: test}]
    dp_charge_rupees: [{from: 2000-01-01, value: 0, source: test}]
    gst_pct: [{from: 2000-01-01, value: 18, source: test}]
"""
SESSIONS = pd.to_datetime(["2021-03-01", "2021-03-02", "2021-03-03", "2021-03-04", "2021-03-05", "2021-03-08"])
PRICES = pd.DataFrame({"date": SESSIONS, "open": [998.0, 1005, 1008, 1015, 1025, 1025],
                       "close": [1000.0, 1010, 1000, 1020, 1030, 1020]})
FORECASTS = pd.DataFrame({"date": SESSIONS[:5], "probability": [0.6, 0.6, 0.4, 0.7, 0.3], "no_call": False})


@pytest.fixture
def costs(tmp_path):
    path = tmp_path / "costs.yaml"
    path.write_text(COSTS)
    return load_costs(path)


def fills_of(ledger) -> list[tuple]:
    return [(f.day, f.units, pytest.approx(f.price), pytest.approx(f.value), pytest.approx(f.slippage),
             {k: pytest.approx(v) for k, v in f.charges.items() if v}, f.reason) for f in ledger.fills]


def test_close_mode_fills_costs_and_equity_by_hand(costs):
    result = run_backtest(FORECASTS, PRICES, "close", "long_short", costs)
    strategy = result.ledgers["strategy"]
    assert result.fills == "close"
    assert list(strategy.weight) == [1, 1, -1, 1, -1]
    assert list(strategy.units) == [1000, 1000, -900, 900, -900]
    assert fills_of(strategy) == [
        # 10 lots on ₹10,00,000 at 1000; bought at 1000 + 10 bp
        ("2021-03-01", 1000, 1001.0, 1_001_000, 1000, {"brokerage": 20, "stamp_duty": 20.02, "gst": 3.6}, "enter"),
        # held on 2 March (same weight): no fill; flipped on 3 March to 9 lots short (₹998,956.38 / ₹100,000)
        ("2021-03-03", -1900, 999.0, 1_898_100, 1900, {"brokerage": 20, "stt": 189.81, "gst": 3.6}, "flip"),
        ("2021-03-04", 1800, 1021.02, 1_837_836, 1836, {"brokerage": 20, "stamp_duty": 36.75672, "gst": 3.6}, "flip"),
        # STT at the new 0.02% from 4 March
        ("2021-03-05", -1800, 1028.97, 1_852_146, 1854, {"brokerage": 20, "stt": 370.4292, "gst": 3.6}, "flip"),
        # the backtest ends: bought back at the close of 8 March
        ("2021-03-08", 900, 1021.02, 918_918, 918, {"brokerage": 20, "stamp_duty": 18.37836, "gst": 3.6}, "final"),
    ]
    np.testing.assert_allclose(strategy.equity, [1_008_956.38, 998_956.38, 978_842.97, 985_946.61328, 991_738.60572])
    np.testing.assert_allclose(strategy.gross, [10_000, -10_000, -18_000, 9_000, 9_000])
    assert strategy.costs.sum() == pytest.approx(8261.39428)  # ₹10,00,000 + 0 gross - the final ₹991,738.60572
    assert strategy.charges["stt"] == pytest.approx(189.81 + 370.4292)
    assert strategy.slippage == pytest.approx(1000 + 1900 + 1836 + 1854 + 918)
    assert [str(pd.Timestamp(d).date()) for d in strategy.dates] == [str(d.date()) for d in SESSIONS[1:]]
    summary = result.summary["strategy"]
    assert summary["trades"] == 4 and summary["orders"] == 5
    assert summary["costs"]["rupees"] == pytest.approx(8261.39428)
    assert summary["gross_profit"] == pytest.approx(0.0, abs=1e-9)  # +10,000 -10,000 -18,000 +9,000 +9,000
    assert summary["costs"]["share_of_gross_profit"] is None  # no gross profit to take a share of
    assert summary["hit_rate"] == pytest.approx(3 / 5)  # sessions 1, 4 and 5 made money after costs


def test_buy_and_hold_buys_once_and_sells_at_the_end(costs):
    result = run_backtest(FORECASTS, PRICES, "close", "long_short", costs)
    hold = result.ledgers["buy_and_hold"]
    assert list(hold.units) == [1000] * 5
    assert [(f.day, f.units, f.reason) for f in hold.fills] == [("2021-03-01", 1000, "enter"),
                                                                 ("2021-03-08", -1000, "final")]
    # sold 1000 at 1020 - 10 bp = 1018.98: slippage 1020, STT 0.02% 203.796, brokerage 20, GST 3.6
    np.testing.assert_allclose(hold.equity, [1_008_956.38, 998_956.38, 1_018_956.38, 1_028_956.38, 1_017_708.984])
    # in close mode always-long trades the same fills as buy-and-hold
    np.testing.assert_allclose(result.ledgers["always_long"].equity, hold.equity)


def test_preopen_trades_open_to_close_and_reports_the_gap_apart(costs):
    result = run_backtest(FORECASTS, PRICES, "preopen", "long_short", costs)
    strategy = result.ledgers["strategy"]
    assert result.fills == "open"
    # sized on the close of t (1000: 10 lots), bought at the open of t + 1 (1005 + 10 bp), sold at its close
    assert fills_of(strategy)[:4] == [
        ("2021-03-02", 1000, 1006.005, 1_006_005, 1005, {"brokerage": 20, "stamp_duty": 20.1201, "gst": 3.6}, "enter"),
        ("2021-03-02", -1000, 1008.99, 1_008_990, 1010, {"brokerage": 20, "stt": 100.899, "gst": 3.6}, "exit"),
        # ₹1,002,816.7809 / (100 x 1010) = 9.93: 9 lots
        ("2021-03-03", 900, 1009.008, 908_107.2, 907.2, {"brokerage": 20, "stamp_duty": 18.162144, "gst": 3.6}, "enter"),
        ("2021-03-03", -900, 999.0, 899_100, 900, {"brokerage": 20, "stt": 89.91, "gst": 3.6}, "exit"),
    ]
    np.testing.assert_allclose(strategy.equity[:2], [1_002_816.7809, 993_654.308756])
    # the gap (close t -> open t + 1) is never in the strategy's P&L, only on its own not-tradable line
    np.testing.assert_allclose(strategy.gross[:2], [1000 * (1010 - 1005), 900 * (1000 - 1008)])
    np.testing.assert_allclose(result.gap.returns, [1005 / 1000 - 1, 1008 / 1010 - 1, -(1015 / 1000 - 1),
                                                    1025 / 1020 - 1, -(1025 / 1030 - 1)])
    gap = result.summary["gap_not_tradable"]
    assert gap["label"].startswith("not tradable") and gap["total_return"] == pytest.approx(
        np.prod(1 + result.gap.returns) - 1)
    assert "gap_not_tradable" not in run_backtest(FORECASTS, PRICES, "close", "long_short", costs).summary


def test_zero_costs_leave_only_the_gross_pnl(costs):
    result = run_backtest(FORECASTS, PRICES, "close", "long_short", costs.without_costs())
    strategy = result.ledgers["strategy"]
    assert strategy.costs.sum() == 0 and strategy.slippage == 0
    # without costs the account is ₹10,00,000 again on 3 March: 10 lots short, not 9
    assert [f.units for f in strategy.fills] == [1000, -2000, 1900, -1800, 900]
    np.testing.assert_allclose(strategy.equity, [1_010_000, 1_000_000, 980_000, 989_000, 998_000])
