"""The range forecast: the variance proxy, its label, the forecasters, the intervals and the metrics."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from sensex.data.sources import synthetic
from sensex.features.dataset import prepare
from sensex.features.ranges import (
    HAR_FEATURE_NAMES,
    PREOPEN_FEATURE_NAMES,
    RANGE_FEATURE_NAMES,
    RangeData,
    garman_klass,
    har_features,
    opening_gap,
    parkinson,
    range_data,
    session_variance,
    sp500_range_features,
)
from sensex.market import context
from sensex.models import volatility as vol

TRAIN_END, VALID_END = "2020-06-30", "2020-12-31"


@pytest.fixture(scope="module")
def market_with_sp500(universe) -> pd.DataFrame:
    return synthetic.generate(universe, "2018-06-01", "2021-12-31", with_context=True)


@pytest.fixture(scope="module")
def datasets(market_with_sp500, universe) -> dict[str, RangeData]:
    return {mode: range_data(market_with_sp500, prepare(market_with_sp500, universe, mode)) for mode in ("close", "preopen")}


def _split(data: RangeData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (vol.date_rows(data, None, TRAIN_END),
            vol.date_rows(data, pd.Timestamp(TRAIN_END) + pd.Timedelta(days=1), VALID_END),
            vol.date_rows(data, pd.Timestamp(VALID_END) + pd.Timedelta(days=1), "2021-12-31"))


# --- estimators and metrics by hand -------------------------------------------------------------

def test_parkinson_garman_klass_and_gap_by_hand():
    high, low, open_, close = np.array([105.0, 50.0]), np.array([100.0, 50.0]), np.array([101.0, 50.0]), np.array([104.0, 50.0])
    expected = np.log(1.05) ** 2 / (4 * np.log(2))
    got = parkinson(high, low)
    assert got[0] == pytest.approx(expected, rel=1e-12)
    assert np.isnan(got[1])  # high equal to low: no range
    assert garman_klass(open_, high, low, close)[0] == pytest.approx(
        0.5 * np.log(1.05) ** 2 - (2 * np.log(2) - 1) * np.log(104 / 101) ** 2, rel=1e-12)
    gap = opening_gap(np.array([100.0, 103.0]), np.array([101.0, 102.0]))
    assert np.isnan(gap[0]) and gap[1] == pytest.approx(np.log(103 / 101))
    v = session_variance(np.array([100.0, 103.0]), np.array([102.0, 106.0]), np.array([99.0, 102.0]), np.array([101.0, 105.0]))
    assert v[1] == pytest.approx(np.log(106 / 102) ** 2 / (4 * np.log(2)) + np.log(103 / 101) ** 2, rel=1e-12)


def test_qlike_mse_and_mz_r2_by_hand():
    v, h = np.array([1.0, 4.0]), np.array([2.0, 2.0])
    # v/h - ln(v/h) - 1: 0.5 + ln 2 - 1 and 2 - ln 2 - 1
    assert vol.qlike(np.log(v), np.log(h)) == pytest.approx(((0.5 + np.log(2) - 1) + (2 - np.log(2) - 1)) / 2)
    assert vol.qlike(np.log(v), np.log(v)) == 0.0
    assert vol.mse_log(np.log(v), np.log(h)) == pytest.approx(np.log(2) ** 2)
    x = np.array([1.0, 2.0, 3.0, 4.0])
    assert vol.mz_r2(2 * x + 1, x) == pytest.approx(1.0)
    assert vol.mz_r2(np.array([1.0, -1.0, 1.0, -1.0]), np.array([1.0, 1.0, -1.0, -1.0])) == pytest.approx(0.0)


def test_qlike_intercept_is_the_qlike_minimiser():
    rng = np.random.default_rng(1)
    label, log_h = rng.normal(-9, 1, 500), rng.normal(-9, 0.5, 500)
    c = vol.qlike_intercept(label, log_h)
    assert c == pytest.approx(np.log(np.mean(np.exp(label - log_h))))
    best = vol.qlike(label, log_h + c)
    assert best < vol.qlike(label, log_h + c + 0.01) and best < vol.qlike(label, log_h + c - 0.01)


def test_ewma_by_hand():
    ret = np.array([np.nan, 0.01, -0.02, 0.0])
    got = np.exp(vol.ewma_log_variance(ret, 0.94))
    assert np.isnan(got[0])
    assert got[1] == pytest.approx(1e-4)
    assert got[2] == pytest.approx(0.94 * 1e-4 + 0.06 * 4e-4)
    assert got[3] == pytest.approx(0.94 * got[2])


# --- HAR on simulated data ----------------------------------------------------------------------

def _har_series(n: int, coefficients: tuple[float, float, float, float], noise: float, seed: int) -> np.ndarray:
    """Session variances whose log follows a HAR: ln v_{t+1} = c + b1 ln v_t + b5 ln mean5 + b22 ln mean22 + e."""
    c, b1, b5, b22 = coefficients
    rng = np.random.default_rng(seed)
    v = list(np.exp(rng.normal(-9.5, 0.3, 22)))
    for _ in range(n):
        recent = np.array(v[-22:])
        mean_log = c + b1 * np.log(recent[-1]) + b5 * np.log(recent[-5:].mean()) + b22 * np.log(recent.mean())
        v.append(float(np.exp(mean_log + noise * rng.standard_normal())))
    return np.array(v)


def _data_from_variances(v: np.ndarray) -> RangeData:
    n = len(v)
    label = np.full(n, np.nan)
    label[:-1] = np.log(v[1:])
    dates = pd.bdate_range("2000-01-03", periods=n)
    return RangeData(dates=dates, target_dates=dates, variance=v, label=label, ret=np.full(n, 0.0),
                     next_abs_move=np.full(n, 1.0), features=har_features(v), feature_names=list(HAR_FEATURE_NAMES))


def test_har_fit_recovers_known_coefficients():
    truth = (-1.0, 0.35, 0.3, 0.25)
    data = _data_from_variances(_har_series(8000, truth, 0.4, seed=3))
    rows = np.arange(30, len(data.dates) - 1)
    model = vol.fit_linear(data, rows, HAR_FEATURE_NAMES)
    slopes = np.asarray(model.coef) / np.asarray(model.scale)
    np.testing.assert_allclose(slopes, truth[1:], atol=0.06)
    constant = model.intercept - float(np.sum(slopes * np.asarray(model.center)))
    assert constant == pytest.approx(truth[0], abs=0.6)
    # The QLIKE intercept of Gaussian log noise is the smearing term sigma^2 / 2.
    assert model.log_scale == pytest.approx(0.4**2 / 2, abs=0.02)
    assert (model.fit_start, model.fit_end) == (str(data.dates[30].date()), str(data.dates[rows[-1]].date()))


def test_ridge_shrinks_toward_the_mean():
    data = _data_from_variances(_har_series(2000, (-1.0, 0.35, 0.3, 0.25), 0.4, seed=4))
    rows = np.arange(30, len(data.dates) - 1)
    plain, ridge = vol.fit_linear(data, rows, HAR_FEATURE_NAMES), vol.fit_linear(data, rows, HAR_FEATURE_NAMES, alpha=1e4)
    assert np.linalg.norm(ridge.coef) < 0.5 * np.linalg.norm(plain.coef)


# --- GARCH and conformal intervals on simulated GARCH data --------------------------------------

def _garch_returns(n: int, seed: int, omega: float = 2e-6, alpha: float = 0.08, beta: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    h, ret, variance = omega / (1 - alpha - beta), np.empty(n), np.empty(n)
    for t in range(n):
        variance[t] = h
        ret[t] = np.sqrt(h) * rng.standard_normal()
        h = omega + alpha * ret[t] ** 2 + beta * h
    return ret, variance


def test_garch_recursion_matches_arch_and_recovers_parameters():
    from arch import arch_model

    ret, _ = _garch_returns(4000, seed=5)
    params = vol.fit_garch(ret, np.arange(3000))
    assert params["alpha"] == pytest.approx(0.08, abs=0.04) and params["beta"] == pytest.approx(0.9, abs=0.05)
    ours = np.exp(vol.garch_log_variance(ret, params)) * 1e4  # percent^2: the variance of r_{t+1}
    model = arch_model(100 * ret[:3000], mean="Constant", vol="GARCH", p=1, q=1, dist="normal", rescale=False)
    fixed = model.fix([params["mu"], params["omega"], params["alpha"], params["beta"]])
    theirs = fixed.forecast(horizon=1, start=0, reindex=False).variance["h.1"].to_numpy()
    np.testing.assert_allclose(ours[500:3000], theirs[500:3000], rtol=1e-6)  # the start value has died out


def test_conformal_move_intervals_cover_near_nominal_on_garch_data():
    ret, _ = _garch_returns(7000, seed=6)
    params = vol.fit_garch(ret, np.arange(3000))
    log_h = vol.garch_log_variance(ret, params)  # row t: variance of r_{t+1}
    move = 100 * np.abs(ret[1:])
    log_h = log_h[:-1]
    calibration, test = slice(3000, 4000), slice(4000, None)
    quantiles = vol.calibrate_moves(log_h[calibration], move[calibration])
    for level, z in quantiles.items():
        bounds = vol.move_bounds(log_h[test], z)
        assert np.all(bounds[:, 0] < bounds[:, 1])
        assert vol.coverage(bounds, move[test]) == pytest.approx(float(level), abs=0.03)


def test_conformal_quantiles_by_hand():
    # z = ln((m/100)^2) - ln h with h = 1e-4: z = 2 ln(m); 19 scores -> (n+1) = 20.
    m = np.arange(1.0, 20.0)
    got = vol.calibrate_moves(np.full(19, np.log(1e-4)), m, levels=(0.8,))
    # 80%: the floor(20 * 0.1) = 2nd and the ceil(20 * 0.9) = 18th smallest.
    assert got["0.8"] == pytest.approx([2 * np.log(2.0), 2 * np.log(18.0)])
    np.testing.assert_allclose(vol.move_bounds(np.array([np.log(1e-4)]), got["0.8"]), [[2.0, 18.0]])


# --- the label, the exclusions and the alignment ------------------------------------------------

def test_a_session_without_range_is_excluded_from_the_label_and_counted(market_with_sp500, universe):
    frame = market_with_sp500.copy()
    day = pd.Timestamp("2020-03-11")
    at = (frame["symbol"] == universe.index_symbol) & (frame["date"] == day)
    assert at.sum() == 1
    frame.loc[at, ["open", "high", "low"]] = frame.loc[at, "close"].iloc[0]
    data = range_data(frame, prepare(frame, universe, "close"))
    t = int(np.flatnonzero(data.dates == day)[0])
    assert np.isnan(data.variance[t]) and np.isnan(data.label[t - 1])  # the label of t - 1 is session t
    assert np.isfinite(data.label[t]) and np.isfinite(data.label[t - 2])
    assert data.counts["no_range_sessions"] == 1 and data.counts["no_range_labels_excluded"] == 1
    assert data.counts["first_no_range"] == "2020-03-11"
    # Yesterday's value carries the last session that had a range; the row is still usable.
    assert data.column("log_var_1")[t] == pytest.approx(np.log(data.variance[t - 1]))
    assert not vol.forecastable(data)[t - 1] and vol.forecastable(data)[t]


def test_label_is_the_next_sessions_parkinson_plus_gap(datasets, market_with_sp500, universe):
    data = datasets["close"]
    index = market_with_sp500[market_with_sp500["symbol"] == universe.index_symbol].sort_values("date")
    t = 100
    nxt, now = index.iloc[t + 1], index.iloc[t]
    expected = np.log(np.log(nxt["high"] / nxt["low"]) ** 2 / (4 * np.log(2)) + np.log(nxt["open"] / now["close"]) ** 2)
    assert data.label[t] == pytest.approx(expected, rel=1e-12)
    assert data.next_abs_move[t] == pytest.approx(100 * abs(np.log(nxt["close"] / now["close"])))
    assert np.isnan(data.label[-1])
    assert data.feature_names == RANGE_FEATURE_NAMES
    assert datasets["preopen"].feature_names == [*RANGE_FEATURE_NAMES, *PREOPEN_FEATURE_NAMES]


def test_preopen_uses_only_sp500_sessions_dated_strictly_before_the_session():
    sp500 = pd.DataFrame({
        "date": pd.to_datetime(["2021-06-30", "2021-07-01", "2021-07-02", "2021-07-06"]),
        "high": [101.0, 104.0, 110.0, 120.0], "low": [100.0, 100.0, 100.0, 100.0], "close": [100.0, 102.0, 105.0, 119.0],
    })
    # BSE sessions 07-02 (Fri) and 07-05 (Mon, a US holiday) and 07-06: the sessions forecast.
    targets = pd.DatetimeIndex(["2021-07-02", "2021-07-05", "2021-07-06"])
    got = sp500_range_features(sp500, targets)
    assert list(got["sp500_last_date"]) == [pd.Timestamp("2021-07-01"), pd.Timestamp("2021-07-02"), pd.Timestamp("2021-07-02")]
    assert got["sp500_var_last"].iloc[0] == pytest.approx(np.log(1.04) ** 2 / (4 * np.log(2)))
    assert got["sp500_var_last"].iloc[2] == pytest.approx(np.log(1.10) ** 2 / (4 * np.log(2)))  # not 07-06's own
    assert got["sp500_ret_last"].iloc[1] == pytest.approx(np.log(105 / 102))
    early = sp500_range_features(sp500, pd.DatetimeIndex(["2021-06-30"]))
    assert np.isnan(early["sp500_var_last"].iloc[0]) and pd.isna(early["sp500_last_date"].iloc[0])


@pytest.mark.parametrize("mode", ["close", "preopen"])
def test_changing_every_row_after_t_changes_no_feature_or_forecast_at_t(market_with_sp500, universe, datasets, mode):
    t = pd.Timestamp("2021-03-10")  # BSE is closed on 03-11: its target is 03-12, two US sessions later
    base = datasets[mode]
    target = base.target_dates[base.dates == t][0]
    assert target == pd.Timestamp("2021-03-12")
    is_sp500 = market_with_sp500["symbol"] == context.SP500.symbol
    # BSE rows after t; S&P 500 rows dated on or after the target (those before it are known at its open).
    future = np.where(is_sp500, market_with_sp500["date"] >= target, market_with_sp500["date"] > t)
    changed = market_with_sp500.copy()
    rng = np.random.default_rng(0)
    for column in ("open", "high", "low", "close", "adj_close"):
        changed.loc[future, column] *= rng.uniform(0.5, 1.5, int(future.sum()))
    other = range_data(changed, prepare(changed, universe, mode))
    upto = base.dates <= t
    np.testing.assert_array_equal(base.features[upto], other.features[upto])
    np.testing.assert_array_equal(base.ret[upto], other.ret[upto])
    np.testing.assert_array_equal(base.label[base.dates < t], other.label[other.dates < t])
    train, valid, _ = _split(base)
    fit = vol.fit_range(base, train, valid)  # fit on rows before t only
    assert base.dates[valid[-1]] < t
    before, after = fit.forecasts(base), fit.forecasts(other)
    for name in before:
        np.testing.assert_allclose(before[name][upto], after[name][upto], rtol=0, atol=0, err_msg=name)
    # ...and the rows after t did change, so the test would see a leak.
    assert not np.allclose(base.features[~upto], other.features[~upto], equal_nan=True)


# --- the whole fit ------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["close", "preopen"])
def test_fit_and_score_give_the_evaluate_json_shape(datasets, mode):
    data = datasets[mode]
    train, valid, test = _split(data)
    fit = vol.fit_range(data, train, valid)
    portable = json.loads(json.dumps(fit.portable))  # plain JSON, as a bundle would keep it
    model = portable["forecasters"][vol.MODEL]
    assert model["kind"] == "linear" and model["feature_names"] == data.feature_names
    assert (model["fit_start"], model["fit_end"]) == (str(data.dates[train[0]].date()), str(data.dates[train[-1]].date()))
    assert fit.chosen in fit.candidates and set(fit.candidates) == {f"ridge_{a:g}" for a in vol.RIDGE_ALPHAS}
    assert portable["valid"]["fit_start"] == str(data.dates[valid[0]].date())
    expected = {vol.MODEL, *vol.BASELINES} | (set(vol.PREOPEN_BASELINES) if mode == "preopen" else set())
    assert set(portable["forecasters"]) == set(portable["intervals"]) == expected
    again = vol.predict(portable, data)
    for name, values in fit.forecasts(data).items():
        np.testing.assert_allclose(again[name][test], values[test], err_msg=name)

    scored = vol.evaluate_range(data, fit, test, n_boot=50)
    assert scored["n"] == len(test)
    for key in ("qlike", "mse_log", "r2", "big_move_auc", "coverage_80", "coverage_90"):
        assert np.isfinite(scored["metrics"][key]) and len(scored["metrics"]["intervals"][key]) == 2
    assert set(scored["baselines"]) == expected - {vol.MODEL}
    for record in scored["baselines"].values():
        assert {"qlike", "mse_log", "r2", "big_move_auc", "coverage_80", "coverage_90"} <= set(record)
        assert len(record["model_gain"]["qlike"]) == 3
    assert 0 < scored["coverage_80"] < scored["coverage_90"] <= 1


def test_paired_gain_is_positive_for_a_better_forecaster():
    rng = np.random.default_rng(2)
    truth = np.cumsum(rng.normal(0, 0.1, 600)) - 9.0
    label = truth + rng.normal(0, 0.5, 600)
    forecasts = {vol.MODEL: truth, "noisy": truth + rng.normal(0, 0.8, 600)}
    scored = vol.score_forecasts(label, np.exp(label / 2) * 100, np.median(np.exp(label / 2) * 100), forecasts, n_boot=200)
    gain = scored["baselines"]["noisy"]["model_gain"]
    assert gain["qlike"][0] > 0 and gain["qlike"][1] > 0
    assert gain["mse_log"][1] > 0 and gain["r2"][1] > 0
