import numpy as np
import pandas as pd

from sensex.data.sources import synthetic
from sensex.market import calendar


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


def test_sp500_rows_are_nyse_sessions_and_optional(universe):
    from sensex.market import context

    plain = synthetic.generate(universe, "2021-01-01", "2021-12-31")
    both = synthetic.generate(universe, "2021-01-01", "2021-12-31", with_context=True)
    sp500 = both[both["symbol"] == context.SP500.symbol]
    assert pd.DatetimeIndex(sp500["date"]).equals(context.sessions(context.SP500, "2021-01-01", "2021-12-31"))
    assert pd.Timestamp("2021-07-05") not in set(sp500["date"])  # US holiday, BSE open
    assert pd.Timestamp("2021-03-11") in set(sp500["date"])  # BSE holiday, NYSE open
    # The SENSEX is the same market whether or not the S&P 500 rows are asked for.
    pd.testing.assert_frame_equal(plain, both[both["symbol"] != context.SP500.symbol].reset_index(drop=True))
    assert (sp500["high"] >= sp500[["open", "close"]].max(axis=1)).all()
    assert (sp500["low"] <= sp500[["open", "close"]].min(axis=1)).all()


def test_sp500_is_prefix_stable(universe):
    short = synthetic.generate(universe, "2020-01-01", "2020-06-30", with_context=True)
    long = synthetic.generate(universe, "2020-01-01", "2021-03-31", with_context=True)
    pd.testing.assert_frame_equal(short, long[long["date"] <= "2020-06-30"].reset_index(drop=True))


def test_the_sp500_overnight_return_moves_the_sensex_open_not_what_follows(universe):
    from sensex.features.overnight import overnight_features
    from sensex.market import context

    market = synthetic.generate(universe, "2010-01-01", "2021-12-31", with_context=True)
    index = market[market["symbol"] == "SENSEX"].set_index("date")
    sp500 = market[market["symbol"] == context.SP500.symbol]
    # Row t's overnight return is the news reaching the open of t + 1.
    overnight = overnight_features(sp500, index.index)["sp500_overnight_ret"].to_numpy()[:-1]
    gap = np.log(index["open"].to_numpy()[1:] / index["close"].to_numpy()[:-1])
    after_open = np.log(index["close"].to_numpy()[1:] / index["open"].to_numpy()[1:])
    ok = np.isfinite(overnight)
    gap_slope = np.polyfit(overnight[ok], gap[ok], 1)[0]
    after_slope = np.polyfit(overnight[ok], after_open[ok], 1)[0]
    # Index members' betas average about 1, so the gap takes on about SP500_SPILLOVER of it.
    assert abs(gap_slope - synthetic.SP500_SPILLOVER) < 0.05
    assert abs(after_slope) < 0.05
