"""Dashboard figures that read wrong when Plotly chooses their axes: the PSI history's log axis, a
rolling chart with one point, the Backtest page's log equity axis; and the Backtest page's verdict,
statistics table and monthly returns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sensex.backtest.report import monthly_returns
from sensex.interfaces.app import backtest_charts, charts


def psi_points(values: list[tuple[str, float, float]]) -> list[dict]:
    return [{"date": day, "features": {"families": {"trend": {"psi": a}, "volatility": {"psi": b}}}}
            for day, a, b in values]


def test_the_psi_log_axis_has_round_readable_ticks():
    figure = charts.psi_history(psi_points([("2021-08-01", 0.04, 0.2), ("2021-09-01", 0.3, 2.4),
                                            ("2021-10-01", 0.08, 3.1)]), ["trend", "volatility"],
                                {"watch": 0.1, "retrain": 0.25})
    axis = figure.layout.yaxis
    assert axis.type == "log"
    assert list(axis.tickvals) == [0.05, 0.1, 0.25, 0.5, 1, 2]
    assert list(axis.ticktext) == ["0.05", "0.1", "0.25", "0.5", "1", "2"]  # not "2, 1, 5, 2, 0.1, 5"
    low, high = axis.range  # log10 units, every point inside
    assert 10 ** low < 0.04 and 10 ** high > 3.1


def test_a_psi_history_below_one_stays_linear():
    figure = charts.psi_history(psi_points([("2021-08-01", 0.04, 0.2), ("2021-09-01", 0.3, 0.5)]),
                                ["trend", "volatility"], {"watch": 0.1, "retrain": 0.25})
    assert figure.layout.yaxis.type != "log" and figure.layout.yaxis.tickvals is None


def test_a_one_point_rolling_chart_has_a_day_axis():
    figure = charts.rolling_scores([{"as_of": "2021-12-30", "hit_rate": 0.5, "always_up_hit_rate": 0.55,
                                     "brier": 0.25, "always_up_brier": 0.249}], 20)
    for axis in (figure.layout.xaxis, figure.layout.xaxis2):
        assert axis.type == "date" and axis.tickformat == "%d %b %Y" and axis.dtick == 86_400_000
        start, end = (pd.Timestamp(v) for v in axis.range)  # days around the point, not milliseconds
        assert start == pd.Timestamp("2021-12-27") and end == pd.Timestamp("2022-01-02")


def test_a_long_rolling_chart_keeps_plotlys_range():
    days = pd.bdate_range("2021-10-01", periods=30)
    figure = charts.rolling_scores([{"as_of": str(d.date()), "hit_rate": 0.5, "always_up_hit_rate": 0.55,
                                     "brier": 0.25, "always_up_brier": 0.249} for d in days], 20)
    assert figure.layout.xaxis.range is None and figure.layout.xaxis.tickformat == "%d %b %Y"


@pytest.mark.parametrize("low, high, expected", [
    (97.0, 125.0, [100, 110, 120]),
    (90.0, 400.0, [100, 120, 150, 200, 300, 400]),
    (0.5, 3.0, [0.5, 0.8, 1, 1.5, 2, 3]),
])
def test_log_ticks_are_round_values_inside_the_span(low, high, expected):
    assert backtest_charts.log_ticks(low, high) == pytest.approx(expected)


def view(difference: float, interval: list, zero_costs: bool = False) -> dict:
    return {"rule": "long_flat", "universe_name": "SENSEX", "zero_costs": zero_costs, "window": {"sessions": 246},
            "sharpe_difference": {"value": difference, "interval": interval, "level": 0.9}}


@pytest.mark.parametrize("difference, interval, zero_costs, words", [
    (-0.2, [-0.6, 0.2], False, "long_flat did not beat holding the SENSEX after costs: Sharpe difference -0.20"
                               " [-0.60, +0.20] (90% block-bootstrap interval, 246 sessions)."),
    (0.4, [0.1, 0.7], False, "long_flat beat holding the SENSEX after costs: Sharpe difference +0.40 [+0.10, +0.70]"),
    (-0.9, [-1.4, -0.3], True, "long_flat did worse than holding the SENSEX with zero costs: Sharpe difference -0.90"),
    (0.1, [None, None], False, "Too few sessions (246) to judge whether long_flat beat holding the SENSEX after costs"),
])
def test_the_verdict_is_one_plain_sentence(difference, interval, zero_costs, words):
    assert words in backtest_charts.verdict(view(difference, interval, zero_costs))


def test_monthly_returns_chain_month_ends_from_the_starting_capital():
    dates = pd.DatetimeIndex(["2020-12-31", "2021-01-04", "2021-01-29", "2021-02-01", "2021-02-26"])
    curve = pd.Series([100.0, 101.0, 110.0, 99.0, 121.0], index=dates)  # the capital on the first decision day
    months = monthly_returns({"strategy": curve})
    assert [m["month"] for m in months] == ["2021-01", "2021-02"]  # no December row for the starting capital
    assert months[0]["strategy"] == pytest.approx(0.10) and months[1]["strategy"] == pytest.approx(0.10)


def test_the_statistics_table_and_figures_of_a_backtest():
    stats = {"cagr": 0.116, "cagr_interval": [-0.003, 0.273], "annual_volatility": 0.129, "sharpe": 0.91,
             "sharpe_interval": [0.04, 2.11], "sortino": 1.31, "max_drawdown": -0.078, "calmar": 1.49,
             "max_drawdown_dates": {"peak": "2021-11-18", "trough": "2021-11-30", "recovered": None},
             "hit_rate": 0.544, "exposure": 0.687, "turnover": 29.3, "trades": 9, "orders": 32,
             "final_equity": 1.11e7, "costs": {"rupees": 80070.0, "share_of_gross_profit": 0.066, "slippage": 60635.0,
                                                "stt": 15216.0, "brokerage": 640.0, "gst": 0.0}}
    dates = [str(d.date()) for d in pd.bdate_range("2021-01-01", periods=40)]
    equity = list(1e7 * np.cumprod(np.r_[1.0, np.full(39, 1.001)]))
    shown = {**view(-0.28, [-0.93, 0.25]), "strategy": stats, "buy_and_hold": stats, "always_long": stats,
             "curves": {"dates": dates, "strategy": equity, "buy_and_hold": equity, "always_long": equity},
             "monthly": [{"month": "2021-01", "strategy": 0.036, "buy_and_hold": 0.036},
                         {"month": "2021-02", "strategy": -0.009, "buy_and_hold": 0.016}]}
    table = backtest_charts.statistics_table(shown).set_index("statistic")
    assert table.loc["Sharpe [90% interval]", "strategy (long_flat)"] == "+0.91 [+0.04, +2.11]"
    assert table.loc["CAGR [90% interval]", "buy and hold"] == "+11.6% [-0.3%, +27.3%]"
    assert table.loc["back at the peak on", "strategy (long_flat)"] == "not yet"
    assert table.loc["costs", "strategy (long_flat)"] == "₹80,070"

    equity_figure = backtest_charts.equity_and_drawdown(shown)
    axis = equity_figure.layout.yaxis
    assert axis.type == "log" and list(axis.ticktext) == [backtest_charts.tick_text(v) for v in axis.tickvals]
    assert min(equity_figure.data[1].y) <= 0 <= max(equity_figure.data[1].y)  # the drawdown, in %, from 0 down
    heatmap = backtest_charts.monthly_heatmap(shown["monthly"]).data[0]
    assert heatmap.z[0][:2] == pytest.approx((3.6, -0.9)) and heatmap.zmid == 0
    costs = backtest_charts.cost_bars(shown)
    assert list(costs.data[0].y) == ["slippage", "brokerage", "securities transaction tax"]  # GST 0: left out
    assert costs.layout.xaxis.range[1] > 60635  # room for the labels
