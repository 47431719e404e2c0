"""The range forecast as served: the bundle's record applied in numpy (`models.range_portable`)
gives what `models.volatility` gives, from the inputs the server keeps (`serving.window_cache`),
with a band around the last close that says how far, never which way."""

from __future__ import annotations

import copy
import json

import numpy as np
import pandas as pd
import pytest

from sensex.data.sources import synthetic
from sensex.features.dataset import prepare, repair
from sensex.features.ranges import range_data
from sensex.models import range_fit, range_portable
from sensex.models import volatility as vol
from sensex.models.segments import Segments

TRAIN_END, VALID_END = "2020-06-30", "2020-12-31"


@pytest.fixture(scope="module")
def rows(universe) -> pd.DataFrame:
    return repair(synthetic.generate(universe, "2018-06-01", "2021-12-31", with_context=True), universe.index_symbol)


@pytest.fixture(scope="module", params=["close", "preopen"])
def fitted(request, rows, universe):
    panel = prepare(rows, universe, request.param)
    data = range_data(rows, panel)
    positions = np.arange(len(data.dates))
    segments = Segments(train=positions[(data.dates > "2018-09-01") & (data.dates <= TRAIN_END)],
                        valid=positions[(data.dates > TRAIN_END) & (data.dates <= VALID_END)],
                        test=positions[(data.dates > VALID_END) & np.isfinite(data.label)])
    record, report = range_fit.fit_part(data, segments, n_boot=50)
    return {"panel": panel, "data": data, "record": json.loads(json.dumps(record)), "report": report,
            "segments": segments}


def test_the_served_numbers_are_the_fitted_models(fitted):
    data, record = fitted["data"], fitted["record"]
    full = vol.predict(record, data)[vol.MODEL]
    for t in np.flatnonzero(vol.forecastable(data))[::50]:
        assert range_portable.log_variance(record, data.features[t]) == pytest.approx(full[t], abs=1e-12)


def test_the_range_fit_keeps_to_the_direction_models_windows(fitted):
    data, record, segments = fitted["data"], fitted["record"], fitted["segments"]
    # Every session up to the direction model's last training session trains it, not only its windows.
    assert record["train"]["fit_start"] < str(data.dates[segments.train[0]].date())
    assert record["train"]["fit_end"] <= str(data.dates[segments.train[-1]].date())
    assert record["valid"]["fit_start"] > record["train"]["fit_end"]
    assert record["valid"]["fit_end"] <= VALID_END < fitted["report"]["start"]
    serving = record["serving"]
    assert len(serving["risk_quantiles"]) == 101 and np.all(np.diff(serving["risk_quantiles"]) >= 0)
    assert 0.3 < serving["move_ratio"] < 1.5


def test_the_expected_move_is_a_symmetric_band_around_the_last_close(fitted):
    data, panel, record = fitted["data"], fitted["panel"], fitted["record"]
    t = len(data.dates) - 1  # the forecast of the session after the last stored one
    close = float(panel.index_close[t])
    view = range_portable.expected_move(record, data.features[t], close)
    move = view["expected_move"]
    assert move["pct"] > 0 and move["points"] == pytest.approx(close * move["pct"] / 100, rel=1e-3)
    assert move["range_low"] < close < move["range_high"]
    # Symmetric in log terms: the band says how far, never which way.
    assert np.log(close / move["range_low"]) == pytest.approx(np.log(move["range_high"] / close), abs=1e-6)
    low, high = move["interval_pct"]
    assert 0 < low < move["pct"] < high
    # The band's half-width is the 80% quantile of the absolute move: inside the central 80% interval.
    assert low < 100 * np.log(move["range_high"] / close) < high
    assert view["risk"] in ("Low", "Medium", "High") and 0 <= view["risk_percentile"] <= 100
    assert "never which way" in move["note"]


def test_risk_is_the_forecasts_percentile_in_its_training_window(fitted):
    record = fitted["record"]
    quantiles = record["serving"]["risk_quantiles"]
    assert range_portable.risk_view(record, quantiles[10])["risk"] == "Low"
    assert range_portable.risk_view(record, quantiles[50])["risk"] == "Medium"
    assert range_portable.risk_view(record, quantiles[90])["risk"] == "High"
    assert range_portable.risk_view(record, quantiles[90])["risk_percentile"] == pytest.approx(90.0, abs=0.1)
    assert range_portable.risk_view(record, quantiles[0] - 5)["risk_percentile"] == 0.0


def test_the_band_and_intervals_cover_near_their_level_on_the_test_window(fitted):
    report = fitted["report"]
    assert report["n"] > 150
    # Loose: split-conformal on one validation half-year, scored on a year of a synthetic market.
    assert 0.65 < report["band_coverage_80"] < 0.95 and 0.65 < report["coverage_80"] < 0.95
    assert set(report["baselines"]) >= set(vol.BASELINES)


def test_no_record_or_an_incomplete_row_gives_no_expected_move(fitted):
    data, record = fitted["data"], fitted["record"]
    row = data.features[-1].copy()
    assert range_portable.expected_move({}, row, 100.0) is None
    assert range_portable.expected_move(record, None, 100.0) is None
    assert range_portable.expected_move(record, row, None) is None
    row[0] = np.nan
    assert range_portable.expected_move(record, row, 100.0) is None
    assert not range_portable.has_range(type("Meta", (), {"range": {}})())


def test_the_served_row_from_the_forecasts_tail_equals_the_full_historys(rows, universe):
    """The server builds the range row from the window's tail plus the warm-up (`load_range` with
    `sessions`), as it builds the window: the row must be the one training saw."""
    full = range_data(rows, prepare(rows, universe))
    index_dates = np.sort(rows.loc[rows["symbol"] == universe.index_symbol, "date"].unique())
    tail = rows[rows["date"] >= index_dates[-310]]
    cut = range_data(tail, prepare(tail, universe))
    assert cut.dates[-1] == full.dates[-1]
    np.testing.assert_allclose(cut.features[-1], full.features[-1], rtol=1e-12)


def test_band_quantile_by_hand():
    # z = ln((m/100)^2) - ln(1e-4) = 2 ln m; 19 scores: the ceil(20 * 0.8) = 16th smallest.
    m = np.arange(1.0, 20.0)
    assert range_portable.band_quantile(np.full(19, np.log(1e-4)), m, 0.8) == pytest.approx(2 * np.log(16.0))
    assert range_portable.band_quantile(np.full(3, np.log(1e-4)), m[:3], 0.8) == float("inf")  # too few


def test_the_window_cache_keeps_the_range_row(tmp_path, fitted):
    from sensex.serving import window_cache
    from sensex.serving.window_cache import LatestInputs

    data = fitted["data"]
    tabular = {"index": np.zeros((1, 13)), "latest": np.zeros((1, 4))}
    inputs = LatestInputs(np.zeros((1, 60, 3, 5), np.float32), tabular, "2021-12-31", 0.15, None,
                          data.features[-1], 86000.5)
    window_cache.save(tmp_path, "close", "ab" * 32, "cd" * 32, inputs)
    back = window_cache.load(tmp_path, "close", "ab" * 32, "cd" * 32)
    np.testing.assert_array_equal(back.range_features, data.features[-1])
    assert back.last_close == 86000.5
    # A model without a range part keeps none; a file from before the range forecast reads as none.
    window_cache.save(tmp_path, "close", "ef" * 32, "cd" * 32, LatestInputs(inputs.window, tabular, "2021-12-31", 0.15))
    plain = window_cache.load(tmp_path, "close", "ef" * 32, "cd" * 32)
    assert plain.range_features is None and plain.last_close is None
    path = next(tmp_path.glob("close-efef*.npz"))
    np.savez(path, window=inputs.window, index=tabular["index"], latest=tabular["latest"],
             last_session=np.str_("2021-12-31"), volatility=np.float64(0.15), last_sp500=np.str_(""))
    assert window_cache.load(tmp_path, "close", "ef" * 32, "cd" * 32).range_features is None


def test_the_window_cache_keeps_the_recent_scores(tmp_path, fitted):
    from sensex.serving import window_cache
    from sensex.serving.window_cache import LatestInputs

    data = fitted["data"]
    tabular = {"index": np.zeros((1, 13)), "latest": np.zeros((1, 4))}
    scores = np.array([-np.inf, -1.5, 0.25, 2.0])  # -inf: a session that did not move
    inputs = LatestInputs(np.zeros((1, 60, 3, 5), np.float32), tabular, "2021-12-31", 0.15, None,
                          data.features[-1], 86000.5, None, scores)
    window_cache.save(tmp_path, "close", "ab" * 32, "cd" * 32, inputs)
    np.testing.assert_array_equal(window_cache.load(tmp_path, "close", "ab" * 32, "cd" * 32).range_scores, scores)
    # A file written before the scores existed reads as none (the server computes the inputs again).
    path = next(tmp_path.glob("close-abab*.npz"))
    with np.load(path) as saved:
        arrays = {name: saved[name] for name in saved.files if name != "range_scores"}
    np.savez(path, **arrays)
    assert window_cache.load(tmp_path, "close", "ab" * 32, "cd" * 32).range_scores is None
    # NaN is not a score: the file is damaged, deleted and computed again.
    np.savez(path, **arrays, range_scores=np.array([0.1, np.nan]))
    assert window_cache.load(tmp_path, "close", "ab" * 32, "cd" * 32) is None and not path.exists()


def test_a_saved_record_is_scored_again_without_refitting(fitted):
    data, record, report = fitted["data"], fitted["record"], fitted["report"]
    again = range_fit.score_between(record, data, report["start"], report["end"])
    assert again["n"] == report["n"] and again["metrics"]["qlike"] == pytest.approx(report["metrics"]["qlike"], abs=1e-12)
    assert again["overlaps_training_rows"] == 0
    changed = copy.deepcopy(record)
    changed["forecasters"]["ewma"]["log_scale"] += 1.0  # the saved record is what is applied
    assert range_fit.score_between(changed, data, report["start"], report["end"])["baselines"]["ewma"]["qlike"] != \
        pytest.approx(report["baselines"]["ewma"]["qlike"])
    summary = range_fit.summary(report)
    assert {"har", "ewma", "garch", "mean5", "mean22", "yesterday"} <= set(summary["baselines"])
    assert all("qlike" in b and len(b["model_gain_qlike"]) == 3 for b in summary["baselines"].values())
    metrics = range_fit.mlflow_metrics(report)
    assert {"range_test_qlike", "range_test_coverage_80", "range_baseline_ewma_test_qlike"} <= set(metrics)


# --- the rolling calibration: intervals and band from the last 250 settled sessions ----------

def test_rolling_quantiles_read_only_sessions_settled_before_each_forecast(fitted):
    """No look-ahead: a row's quantiles come from scores of rows before it (their outcome is the
    next session, closed by then), after the training window, the last 250 of them."""
    data, record = fitted["data"], fitted["record"]
    fit = vol.RangeFit(portable=record)
    log_h = fit.forecasts(data)[vol.MODEL]
    z = range_portable.scores(log_h, data.next_abs_move)
    first = fit.first_after_training(data)
    assert str(data.dates[first - 1].date()) == record["train"]["fit_end"] < str(data.dates[first].date())
    rows = np.flatnonzero(vol.forecastable(data))[-40:]
    quantiles, band, counts = vol.rolling_quantiles(z, rows, first)
    for i, t in enumerate(rows):
        known = np.flatnonzero(~np.isnan(z[first:t])) + first
        expected = np.sort(z[known[-250:]])
        assert counts[i] == len(expected)
        assert quantiles[0.8][i].tolist() == range_portable.interval_quantiles(expected, 0.8)
        assert band[i] == range_portable.upper_quantile(expected, 0.8)
    # What happens at and after a row changes nothing of its quantiles.
    t = rows[len(rows) // 2]
    changed = z.copy()
    changed[t:] = 50.0
    again, again_band, _ = vol.rolling_quantiles(changed, rows[rows <= t], first)
    np.testing.assert_array_equal(again[0.8], quantiles[0.8][rows <= t])
    np.testing.assert_array_equal(again_band, band[rows <= t])


def test_too_few_settled_sessions_fall_back_to_the_validation_quantiles(fitted):
    data, record = fitted["data"], fitted["record"]
    fit = vol.RangeFit(portable=record)
    log_h = fit.forecasts(data)
    first = fit.first_after_training(data)
    early = np.arange(first, first + 25)  # the first validation rows: fewer than 20 settled before most
    rolled, _, counts = vol.rolling_quantiles(range_portable.scores(log_h[vol.MODEL], data.next_abs_move), early, first)
    assert counts[0] == 0 and np.isnan(rolled[0.8][0]).all()
    bounds = fit.bounds(data, log_h, early)[vol.MODEL][0.8]
    fixed = record["intervals"][vol.MODEL]["0.8"]
    expected = 100.0 * np.sqrt(np.exp(log_h[vol.MODEL][early[0]] + np.asarray(fixed)))
    np.testing.assert_allclose(bounds[0], expected, rtol=1e-12)
    band = fit.band(data, log_h[vol.MODEL], early, record["serving"]["band_z"])
    assert band[0] == pytest.approx(100.0 * np.sqrt(np.exp(log_h[vol.MODEL][early[0]] + record["serving"]["band_z"])))
    late = np.flatnonzero(counts >= range_portable.MIN_CALIBRATION)
    assert len(late) and not np.isnan(rolled[0.8][late]).any()


def test_the_served_band_is_the_one_evaluation_scores(fitted, rows, universe):
    """The server computes the recent scores from a tail of the store (`recent_scores`, as
    `serving.inputs` does); its interval and band for the last session are those `RangeFit`
    gives that row on the whole history, so the coverage evaluation reports is the served one."""
    data, record = fitted["data"], fitted["record"]
    t = len(data.dates) - 1
    fit = vol.RangeFit(portable=record)
    log_h = fit.forecasts(data)
    index_dates = np.sort(rows.loc[rows["symbol"] == universe.index_symbol, "date"].unique())
    tail = rows[rows["date"] >= index_dates[-(range_portable.CALIBRATION_SESSIONS + 23 + 100)]]
    cut = range_data(tail, prepare(tail, universe, data.mode))
    recent = range_portable.recent_scores(record, cut.features, cut.next_abs_move, [str(d.date()) for d in cut.dates])
    assert len(recent) == range_portable.CALIBRATION_SESSIONS
    close = float(fitted["panel"].index_close[t])
    move = range_portable.expected_move(record, data.features[t], close, recent)["expected_move"]
    assert "last 250 settled sessions" in move["calibration"]
    low, high = fit.bounds(data, log_h, np.array([t]))[vol.MODEL][0.8][0]
    assert move["interval_pct"] == [round(low, 3), round(high, 3)]
    band = fit.band(data, log_h[vol.MODEL], np.array([t]), record["serving"]["band_z"])[0]
    assert move["range_high"] == round(close * np.exp(band / 100.0), 2)
    # Without recent scores (an older cache file, an as-of date inside training): validation's.
    fallback = range_portable.expected_move(record, data.features[t], close)["expected_move"]
    assert fallback["calibration"].startswith("validation ") and fallback["range_high"] != move["range_high"]


def test_recent_scores_leave_out_training_the_warmup_and_unsettled_sessions(fitted):
    data, record = fitted["data"], fitted["record"]
    dates = [str(d.date()) for d in data.dates]
    recent = range_portable.recent_scores(record, data.features, data.next_abs_move, dates)
    after = np.array([d > record["train"]["fit_end"] for d in dates])
    settled = after & np.isfinite(data.next_abs_move) & np.isfinite(data.features).all(axis=1)
    log_h = range_portable.log_variances(record, data.features[settled])
    expected = range_portable.scores(log_h, data.next_abs_move[settled])[-range_portable.CALIBRATION_SESSIONS:]
    np.testing.assert_array_equal(recent, expected)
    assert not np.isnan(recent).any()
    # The first `warmup` rows of a tail are never read: their 22-session terms are partial there.
    assert len(range_portable.recent_scores(record, data.features[-30:], data.next_abs_move[-30:], dates[-30:])) == 30 - 22 - 1
    # A forecast dated inside training has none: the validation quantiles serve it.
    inside = [d for d in dates if d <= record["train"]["fit_end"]]
    assert len(range_portable.recent_scores(record, data.features[:len(inside)], data.next_abs_move[:len(inside)], inside)) == 0
    assert range_portable.recent_quantiles(np.zeros(0)) is None
    assert range_portable.recent_quantiles(np.zeros(19)) is None and range_portable.recent_quantiles(np.zeros(20))["n"] == 20
