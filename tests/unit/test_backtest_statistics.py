"""Statistics of an equity curve: empyrical's conventions, drawdown dates, the bootstrap of the
Sharpe difference, and the ledger's own counts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sensex.backtest import statistics
from sensex.backtest.costs import load_costs
from sensex.backtest.run import flat_metrics, run_backtest


def test_drawdown_dates_name_the_peak_the_trough_and_the_recovery():
    dates = pd.bdate_range("2021-01-04", periods=7)
    curve = pd.Series([100, 110, 105, 90, 95, 111, 100.0], index=dates)
    assert statistics.drawdown_dates(curve) == {"peak": "2021-01-05", "trough": "2021-01-07", "recovered": "2021-01-11"}
    assert statistics.drawdown_dates(curve[:5])["recovered"] is None
    assert statistics.drawdown_dates(pd.Series([1.0, 2, 3], index=dates[:3]))["peak"] is None


def test_empyrical_figures_follow_the_textbook_formulas():
    r = np.random.default_rng(3).normal(0.0004, 0.011, 1000)
    figures = statistics.performance(r)
    assert figures["sharpe"] == pytest.approx(r.mean() / r.std(ddof=1) * np.sqrt(252))
    assert figures["cagr"] == pytest.approx(np.prod(1 + r) ** (252 / len(r)) - 1)
    equity = np.cumprod(1 + r)
    assert figures["max_drawdown"] == pytest.approx(np.min(equity / np.maximum.accumulate(np.r_[1.0, equity])[1:] - 1))
    assert figures["calmar"] == pytest.approx(figures["cagr"] / abs(figures["max_drawdown"]))
    downside = np.sqrt(np.mean(np.minimum(r, 0) ** 2))
    assert figures["sortino"] == pytest.approx(r.mean() / downside * np.sqrt(252))
    assert statistics.performance(np.abs(r))["sortino"] is None  # no losing session: infinite, reported as null


def test_the_sharpe_difference_interval_is_paired_and_seeded():
    b = np.random.default_rng(4).normal(0.0003, 0.01, 1500)
    same = statistics.sharpe_difference(b, b)
    assert same["value"] == 0 and same["interval"] == [0.0, 0.0]
    better = statistics.sharpe_difference(b + 0.002, b)
    assert better["value"] > 0 and 0 < better["interval"][0] <= better["value"] <= better["interval"][1]
    assert statistics.sharpe_difference(b + 0.002, b) == better
    assert statistics.sharpe_difference(b[:15], b[:15])["interval"] == [None, None]  # too short to resample


def test_ledger_counts_and_metrics_for_mlflow():
    dates = pd.bdate_range("2021-01-04", periods=41)
    close = 1000 * np.cumprod(np.r_[1, np.full(40, 1.002)])  # steadily rising
    prices = pd.DataFrame({"date": dates, "open": close, "close": close})
    p = np.tile([0.7, 0.7, 0.3, 0.7], 10)  # long, long, flat, long, long, long, flat, long ...
    result = run_backtest(pd.DataFrame({"date": dates[:40], "probability": p, "no_call": False}), prices, "close",
                          "long_flat", load_costs(), instrument="etf")  # an ETF: no monthly rolls
    s = result.summary["strategy"]
    # opened on rows 0, 3, 7, ..., 39 (11), closed on rows 2, 6, ..., 38 (10) and at the end (1)
    assert s["exposure"] == pytest.approx(0.75) and s["trades"] == 11 and s["orders"] == 22
    assert s["hit_rate"] == 1.0  # every session held rose by 0.2%, more than its costs
    assert s["costs"]["share_of_gross_profit"] == pytest.approx(s["costs"]["rupees"] / s["gross_profit"])
    assert s["net_profit"] == pytest.approx(s["gross_profit"] - s["costs"]["rupees"])
    assert set(result.summary) >= {"strategy", "buy_and_hold", "always_long", "sharpe_difference", "fills"}
    for name in ("strategy", "buy_and_hold", "always_long"):
        assert {"cagr", "sharpe", "sortino", "max_drawdown", "calmar", "hit_rate", "turnover", "trades",
                "costs"} <= set(result.summary[name])
    metrics = flat_metrics(result.summary)
    assert metrics["strategy_trades"] == 11 and "buy_and_hold_costs_rupees" in metrics
    assert all(np.isfinite(v) for v in metrics.values())
