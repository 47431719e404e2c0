"""Fills by mode: no look-ahead, futures rolls, ETF rates by holding style, sessions the rows skip."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sensex.backtest import engine
from sensex.backtest.costs import load_costs
from sensex.backtest.rules import parse_rule
from sensex.backtest.run import run_backtest
from sensex.core.advice import update_advice
from sensex.core.errors import ConfigError, DataError


def random_market(n: int = 160, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2019-01-01", periods=n + 1)
    close = 30_000 * np.exp(np.cumsum(rng.normal(0, 0.01, n + 1)))
    opening = close * np.exp(rng.normal(0, 0.004, n + 1))
    prices = pd.DataFrame({"date": dates, "open": opening, "close": close})
    forecasts = pd.DataFrame({"date": dates[:n], "probability": rng.uniform(0.35, 0.65, n),
                              "no_call": rng.uniform(size=n) < 0.3, "expected_move": rng.uniform(0.005, 0.02, n)})
    return prices, forecasts


def decisions(forecasts: pd.DataFrame, prices: pd.DataFrame, mode: str, rule: str, costs) -> engine.Ledger:
    market, keep = engine.align(engine.index_prices(prices), forecasts["date"])
    rows = forecasts[keep]
    weights = parse_rule(rule).weights(rows["probability"].to_numpy(), rows["no_call"].to_numpy(),
                                       rows["expected_move"].to_numpy())
    return engine.trade(market, weights, costs.instrument("futures"), costs.capital, "close" if mode == "close" else "open")


@pytest.mark.parametrize("mode", ["close", "preopen"])
@pytest.mark.parametrize("rule", ["long_short", "skip_no_call", "threshold:0.55+vol_target:0.1"])
def test_no_decision_at_t_moves_when_every_later_price_changes(mode, rule):
    """For each cut t, replace every price after session t (the open of t + 1 included) by another
    path: the weights, and the positions decided on or before t, stay; later decisions move."""
    prices, forecasts = random_market()
    costs = load_costs()
    before = decisions(forecasts, prices, mode, rule, costs)
    rng = np.random.default_rng(1)
    moved_later = 0
    for k in range(5, len(forecasts) - 1, 6):
        t = prices["date"][k]
        later = (prices["date"] > t).to_numpy()
        changed = prices.copy()
        path = prices["close"][k] * rng.uniform(0.7, 1.4) * np.exp(np.cumsum(rng.normal(0, 0.02, later.sum())))
        changed.loc[later, "close"] = path
        changed.loc[later, "open"] = path * np.exp(rng.normal(0, 0.01, later.sum()))
        after = decisions(forecasts, changed, mode, rule, costs)
        decided = (forecasts["date"] <= t).to_numpy()
        np.testing.assert_array_equal(after.weight, before.weight)
        np.testing.assert_array_equal(after.units[decided], before.units[decided])
        moved_later += int((after.units[~decided] != before.units[~decided]).any())
        if mode == "close":  # the fills made up to t are the same fills
            made = [f for f in before.fills if pd.Timestamp(f.day) <= t and f.reason != "final"]
            assert [f for f in after.fills if pd.Timestamp(f.day) <= t and f.reason != "final"] == made
    assert moved_later > 10  # the later prices do matter, so the check above could fail


def test_the_rule_reads_forecasts_only():
    prices, forecasts = random_market()
    costs = load_costs()
    one = run_backtest(forecasts, prices, "close", "long_short+skip_no_call", costs)
    other = run_backtest(forecasts, prices.assign(close=prices["close"][::-1].to_numpy()), "close",
                         "long_short+skip_no_call", costs)
    np.testing.assert_array_equal(one.ledgers["strategy"].weight, other.ledgers["strategy"].weight)


def test_futures_carried_over_a_month_end_are_rolled_there():
    prices = pd.DataFrame({"date": pd.to_datetime(["2021-03-29", "2021-03-30", "2021-03-31", "2021-04-01", "2021-04-05"]),
                           "open": [50_000.0] * 5, "close": [50_000.0, 50_100, 50_200, 50_300, 50_400]})
    forecasts = pd.DataFrame({"date": prices["date"][:4], "probability": 0.7, "no_call": False})
    result = run_backtest(forecasts, prices, "close", "long_flat", load_costs())
    reasons = [(f.day, f.reason) for f in result.ledgers["strategy"].fills]
    assert reasons == [("2021-03-29", "enter"), ("2021-03-31", "roll-out"), ("2021-03-31", "roll-in"),
                       ("2021-04-05", "final")]
    assert [f.reason for f in result.ledgers["buy_and_hold"].fills] == ["enter", "roll-out", "roll-in", "final"]
    # an ETF is held for delivery: nothing to roll; its sale pays the DP charge and delivery STT (0.001%)
    etf = run_backtest(forecasts, prices, "close", "long_flat", load_costs(), instrument="etf").ledgers["strategy"]
    assert [f.reason for f in etf.fills] == ["enter", "final"]
    sale = etf.fills[-1]
    assert sale.charges["dp_charge"] == 13.5 and sale.charges["stt"] == pytest.approx(sale.value * 0.001 / 100)
    assert sale.charges["brokerage"] == 0


def test_a_preopen_etf_trade_is_intraday_and_pays_intraday_rates():
    prices, forecasts = random_market(10)
    result = run_backtest(forecasts.assign(probability=0.7), prices, "preopen", "long_flat", load_costs(),
                          instrument="etf")
    buy, sell = result.ledgers["strategy"].fills[:2]
    assert buy.day == sell.day and buy.units == -sell.units > 0
    assert sell.charges["stt"] == pytest.approx(sell.value * 0.025 / 100)  # non-delivery sale of ETF units
    assert sell.charges["dp_charge"] == 0 and buy.charges["brokerage"] == pytest.approx(min(20, buy.value * 0.0003))
    # 2019, before the unified rates of July 2020: the file's state-duty approximation, 0.002% intraday
    assert pd.Timestamp(buy.day) < pd.Timestamp("2020-07-01")
    assert buy.charges["stamp_duty"] == pytest.approx(buy.value * 0.002 / 100)


def test_rows_that_skip_sessions_do_not_carry_a_position_across_them():
    prices, forecasts = random_market(12)
    gapped = forecasts.drop(index=[5, 6]).assign(probability=0.7)
    ledger = run_backtest(gapped, prices, "close", "long_flat", load_costs()).ledgers["strategy"]
    exits = [f.day for f in ledger.fills if f.units < 0]
    assert str(prices["date"][5].date()) in exits  # sold at the close of the last session held, 5
    assert len(ledger.units) == 10


def test_the_window_must_hold_forecasts_followed_by_a_stored_session():
    prices, forecasts = random_market(10)
    with pytest.raises(DataError, match="from 2030-01-01"):
        run_backtest(forecasts, prices, "close", "long_flat", load_costs(), start="2030-01-01")
    last = forecasts.assign(date=prices["date"].iloc[-1])[:1]
    with pytest.raises(DataError, match="followed by a stored index session") as caught:
        run_backtest(last, prices, "close", "long_flat", load_costs())
    # The same advice as every other stale-data message, with its offline CSV import.
    assert update_advice() in str(caught.value)


def test_an_etf_cannot_be_sold_short():
    prices, forecasts = random_market(10)
    with pytest.raises(ConfigError, match="sells short"):
        run_backtest(forecasts, prices, "close", "long_short", load_costs(), instrument="etf")


def test_lots_round_toward_zero_and_size_on_the_decision_close():
    prices, forecasts = random_market(5)
    costs = load_costs()
    market, _ = engine.align(engine.index_prices(prices), forecasts["date"])
    weights = parse_rule("long_short").weights(forecasts["probability"].to_numpy())
    ledger = engine.intraday(market, weights, costs.instrument("futures"), costs.capital)
    lot = costs.instrument("futures").lot_size.at(market.target[0])
    expected = np.sign(weights[0]) * np.floor(costs.capital / (lot * market.close[0])) * lot
    assert ledger.units[0] == expected


def test_volatility_targeting_reads_the_served_percent_and_sizes_down():
    prices, forecasts = random_market(30)
    forecasts = forecasts.drop(columns="expected_move").assign(probability=0.7, expected_move_pct=2.0)
    result = run_backtest(forecasts, prices, "preopen", "vol_target:0.15", load_costs())
    weight = 0.15 / np.sqrt(252) / (0.02 * np.sqrt(np.pi / 2))  # 0.377 of the account
    np.testing.assert_allclose(result.ledgers["strategy"].weight, weight)
    assert (result.ledgers["strategy"].exposure < weight + 1e-9).all()
    with pytest.raises(ConfigError, match="none is available"):
        run_backtest(forecasts.drop(columns="expected_move_pct"), prices, "preopen", "vol_target", load_costs())
