import numpy as np
import pandas as pd
import pytest
import talib

from sensex.features.build import build_panel
from sensex.features.indicators import STOCK_FEATURE_NAMES
from sensex.features.windows import fit_scaler, make_windows, model_input


@pytest.fixture(scope="module")
def panel(market, universe):
    return build_panel(market, universe)


def test_at_least_forty_indicators(panel):
    assert len(STOCK_FEATURE_NAMES) >= 40
    assert panel.stock.shape == (len(panel.dates), 30, len(STOCK_FEATURE_NAMES))


def test_features_line_up_with_talib_on_the_same_series(panel, market):
    rows = market[market["symbol"] == "INFY"].sort_values("date")
    j = panel.symbols.index("INFY")
    expected_rsi = talib.RSI(rows["close"].to_numpy(), timeperiod=14) / 100 - 0.5
    got = panel.stock[:, j, STOCK_FEATURE_NAMES.index("rsi_14")]
    np.testing.assert_allclose(got[100:], expected_rsi[100:], rtol=1e-10)
    close = rows["adj_close"].to_numpy()
    t = 200
    assert panel.dates[t] == pd.Timestamp(rows["date"].iloc[t])
    assert got[t] == pytest.approx(expected_rsi[t])
    assert panel.stock[t, j, STOCK_FEATURE_NAMES.index("ret_5")] == pytest.approx(np.log(close[t] / close[t - 5]))
    sma20 = close[t - 19 : t + 1].mean()
    raw_close = rows["close"].to_numpy()
    assert panel.stock[t, j, STOCK_FEATURE_NAMES.index("sma_ratio_20")] == pytest.approx(raw_close[t] / raw_close[t - 19 : t + 1].mean() - 1)
    assert sma20 > 0


def test_label_is_next_session_index_direction(panel, market):
    index = market[market["symbol"] == "SENSEX"].sort_values("date")["close"].to_numpy()
    assert panel.label[10] == float(index[11] > index[10])
    assert np.isnan(panel.label[-1])


def test_changing_rows_after_t_changes_nothing_at_t(market, universe):
    t = pd.Timestamp("2020-06-30")
    base = build_panel(market, universe)
    future = market["date"] > t
    changed = market.copy()
    rng = np.random.default_rng(0)
    for column in ("open", "high", "low", "close", "adj_close"):
        changed.loc[future, column] *= rng.uniform(0.5, 1.5, future.sum())
    changed.loc[future, "volume"] *= 7
    other = build_panel(changed, universe)
    upto = base.dates <= t
    np.testing.assert_array_equal(base.stock[upto], other.stock[upto])
    np.testing.assert_array_equal(base.market[upto], other.market[upto])
    # The label at t looks at t+1 by definition; every label before t is unchanged.
    np.testing.assert_array_equal(base.label[base.dates < t], other.label[other.dates < t])
    scaler = fit_scaler(base, base.dates[0], t)
    assert scaler == fit_scaler(other, other.dates[0], t)
    end = np.array([int(np.flatnonzero(upto)[-1])])
    np.testing.assert_array_equal(make_windows(model_input(base, scaler), end, 60),
                                  make_windows(model_input(other, scaler), end, 60))


def test_scaler_uses_only_its_fit_window(panel):
    early = fit_scaler(panel, panel.dates[0], panel.dates[400])
    assert early.fit_end == str(panel.dates[400].date())
    rows = (panel.dates <= panel.dates[400])
    values = panel.stock[rows][panel.available[rows]]
    np.testing.assert_allclose(early.stock_mean, np.nanmean(values, axis=0))


def test_missing_member_days_are_masked_not_zero(market, universe):
    gap = market[~((market["symbol"] == "TCS") & market["date"].between("2020-03-02", "2020-03-13"))]
    panel = build_panel(gap, universe)
    j = panel.symbols.index("TCS")
    missing = panel.dates.to_series().between("2020-03-02", "2020-03-13").to_numpy()
    assert not panel.available[missing, j].any()
    tensor = model_input(panel, fit_scaler(panel, panel.dates[0], panel.dates[-1]))
    assert (tensor[missing, j, -1] == 0).all()  # mask channel says "absent"
    assert panel.available[~missing, j][300:].all()


def test_members_outside_their_index_membership_are_masked(market, tmp_path):
    from importlib.resources import files

    from sensex.market.universe import load_universe

    table = pd.read_csv(files("sensex.market") / "universes" / "sensex_members.csv")
    table.loc[table["symbol"] == "TITAN", "member_since"] = "2020-01-01"
    table.loc[table["symbol"] == "ITC", "member_until"] = "2021-06-30"
    path = tmp_path / "pit.csv"
    table.to_csv(path, index=False)
    universe = load_universe(path)
    panel = build_panel(market, universe)
    titan, itc = panel.symbols.index("TITAN"), panel.symbols.index("ITC")
    assert not panel.available[panel.dates < "2020-01-01", titan].any()
    assert panel.available[panel.dates >= "2020-01-01", titan].all()
    assert not panel.available[panel.dates > "2021-06-30", itc].any()


def test_a_membership_date_that_is_not_a_date_is_refused(tmp_path):
    from sensex.core.errors import ConfigError
    from sensex.market.universe import load_universe

    path = tmp_path / "bad.csv"
    path.write_text("symbol,yahoo_bo,yahoo_ns,name,sector,weight,member_since\nTCS,TCS.BO,TCS.NS,TCS,IT,1,soon\n")
    with pytest.raises(ConfigError, match="YYYY-MM-DD"):
        load_universe(path)
