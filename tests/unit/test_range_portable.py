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
