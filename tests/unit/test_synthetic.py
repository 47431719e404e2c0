import numpy as np
import pandas as pd

from sensex import calendar
from sensex.sources import synthetic


def test_same_seed_same_market(universe):
    a = synthetic.generate(universe, "2020-01-01", "2020-06-30", seed=3)
    b = synthetic.generate(universe, "2020-01-01", "2020-06-30", seed=3)
    pd.testing.assert_frame_equal(a, b)


def test_other_seed_other_market(universe):
    a = synthetic.generate(universe, "2020-01-01", "2020-03-31", seed=3)
    b = synthetic.generate(universe, "2020-01-01", "2020-03-31", seed=4)
    assert not np.allclose(a["close"], b["close"])


def test_later_end_never_changes_earlier_rows(universe):
    short = synthetic.generate(universe, "2019-01-01", "2020-01-31")
    long = synthetic.generate(universe, "2019-01-01", "2021-06-30")
    pd.testing.assert_frame_equal(short, long[long["date"] <= "2020-01-31"].reset_index(drop=True))


def test_rows_are_bse_sessions_for_every_member_and_the_index(market, universe):
    dates = pd.DatetimeIndex(sorted(market["date"].unique()))
    expected = calendar.sessions(dates[0], dates[-1])
    assert dates.equals(expected)
    assert set(market["symbol"]) == set(universe.all_symbols)
    assert len(universe.symbols) == 30
    assert (market.groupby("symbol").size() == len(dates)).all()


def test_prices_are_consistent(market):
    assert (market[["open", "high", "low", "close"]] > 0).all().all()
    assert (market["high"] >= market[["open", "close"]].max(axis=1) - 1e-9).all()
    assert (market["low"] <= market[["open", "close"]].min(axis=1) + 1e-9).all()


def test_fat_tails_and_volatility_clustering(market):
    index = market[market["symbol"] == "SENSEX"].set_index("date")["close"]
    returns = np.log(index).diff().dropna()
    assert returns.kurt() > 1.0  # excess kurtosis: fatter tails than the normal
    assert returns.abs().autocorr(lag=1) > 0.05  # large moves follow large moves
