"""The range forecast travels with the direction model: fit by `sensex train`, saved in the same
bundle, logged to MLflow, served in the same forecast (`expected_move`, `risk`), scored again by
`sensex evaluate` from the saved records, judged by the gate; an older bundle without it still serves."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from fastapi.testclient import TestClient

from sensex.core import jsonlog
from sensex.core.cache import get_cache
from sensex.interfaces.api import create_app
from sensex.models.config import PromotionConfig
from sensex.models.uncertainty import RISK_NOTE
from sensex.serving import ModelRegistry
from sensex.serving.model_server import ModelServer

pytestmark = pytest.mark.integration
SIX_BASELINES = {"har", "ewma", "garch", "mean5", "mean22", "yesterday"}


@pytest.fixture(scope="module")
def production(trained_home):
    return ModelRegistry(trained_home["settings"]).load()


def test_training_fits_the_range_part_into_the_same_bundle_and_logs_it(trained_home, production):
    import mlflow

    info, bundle = production
    record, test = bundle.meta.range, bundle.meta.test_range
    assert record["forecasters"]["model"]["kind"] == "linear" and record["mode"] == "close"
    assert set(record["forecasters"]) >= SIX_BASELINES and record["serving"]["band_level"] == 0.8
    # Fit before the test window, on the direction model's segments.
    assert record["valid"]["fit_end"] == bundle.meta.segments["valid"][1]
    assert test["start"] >= bundle.meta.segments["test"][0] and test["end"] <= bundle.meta.segments["test"][1]
    assert set(test["baselines"]) >= SIX_BASELINES
    trained = trained_home["train"]["range"]
    assert trained["metrics"]["qlike"] == test["metrics"]["qlike"] and trained["seconds"] > 0
    mlflow.set_tracking_uri(trained_home["settings"].tracking_uri)
    metrics = mlflow.get_run(info["run_id"]).data.metrics
    assert metrics["range_test_qlike"] == pytest.approx(test["metrics"]["qlike"])
    assert metrics["range_baseline_ewma_test_qlike"] == pytest.approx(test["baselines"]["ewma"]["qlike"])
    assert "range_test_coverage_80" in metrics and "test_auc" in metrics  # beside the direction metrics


def test_the_forecast_carries_the_expected_move_and_logs_its_band(own_home):
    # Other tests log forecasts in the shared home, and a session's forecast is logged once: start empty.
    (own_home.logs_dir / jsonlog.PREDICTION_LOG).unlink(missing_ok=True)
    from sensex.core.cache import get_cache

    get_cache(own_home).clear()  # a forecast held in memory is not logged again either
    forecast = ModelServer(own_home).predict()
    move = forecast["expected_move"]
    assert move["pct"] > 0 and move["points"] > 0 and move["range_low"] < move["last_close"] < move["range_high"]
    low, high = move["interval_pct"]
    assert 0 < low < move["pct"] < high
    assert "never which way" in move["note"]
    # Calibrated on the model's recent settled sessions (its validation and test windows here:
    # up to 250 of them, as many as the stored tail after training holds).
    settled = re.fullmatch(r"the model's last (\d+) settled sessions", move["calibration"])
    assert settled and 20 <= int(settled.group(1)) <= 250
    assert forecast["risk"] in ("Low", "Medium", "High") and forecast["realized_risk"] in ("Low", "Medium", "High")
    expected_word = ("Low" if forecast["risk_percentile"] < 100 / 3 else
                     "High" if forecast["risk_percentile"] > 200 / 3 else "Medium")
    assert forecast["risk"] == expected_word
    logged = jsonlog.read(own_home.logs_dir / jsonlog.PREDICTION_LOG)[-1]
    assert logged["expected_move"]["range_low"] == move["range_low"]
    assert logged["expected_move"]["range_high"] == move["range_high"]


def test_an_old_bundle_without_a_range_part_still_serves(own_home, production, tmp_path, monkeypatch):
    import shutil

    from sensex.models.bundle import EXTRA_DIR, META_FILE, load_bundle
    from sensex.registry import production as pointed

    _, bundle = production
    directory = tmp_path / "old"
    shutil.copytree(bundle.directory, directory)
    meta_path = directory / EXTRA_DIR / META_FILE
    meta = json.loads(meta_path.read_text())
    for key in ("range", "test_range"):
        meta.pop(key)
    meta["schema_version"] = 4
    meta_path.write_text(json.dumps(meta))
    old = load_bundle(directory)
    assert old.meta.range == {}
    original = pointed.load_pointed
    monkeypatch.setattr(pointed, "load_pointed", lambda settings, pointer: (original(settings, pointer)[0], old))
    # Same graph, same version: forget the new bundle's forecast held by this process's cache
    # (before, and after: the old bundle's forecast must not answer for the new one in later tests).
    get_cache(own_home).clear()
    try:
        # The window kept for the new bundle (same graph) has a range row: the old bundle ignores it.
        with TestClient(create_app(own_home)) as client:
            response = client.post("/predict")
            assert response.status_code == 200
            body = response.json()
    finally:
        get_cache(own_home).clear()
    assert body["expected_move"] is None and body["risk_percentile"] is None
    assert body["risk"] == body["realized_risk"] and body["risk_basis"] == RISK_NOTE
    assert body["direction"] in ("UP", "DOWN")


def test_evaluate_json_has_the_range_from_the_saved_records(trained_home, production):
    from sensex.jobs import commands

    info, bundle = production
    start, end = bundle.meta.segments["test"]
    result = commands.evaluate(trained_home["settings"], start, end)
    scored = result["range"]
    assert set(scored["baselines"]) == SIX_BASELINES
    assert all(np.isfinite(b["qlike"]) for b in scored["baselines"].values())
    assert 0 < scored["coverage_80"] < scored["coverage_90"] <= 1
    assert {"qlike", "mse_log", "r2", "big_move_auc"} <= set(scored["metrics"])
    # Nothing refit: on the model's own test window it scores what training recorded.
    assert scored["n"] == bundle.meta.test_range["n"]
    assert scored["metrics"]["qlike"] == pytest.approx(bundle.meta.test_range["metrics"]["qlike"], abs=1e-12)
    assert scored["baselines"]["garch"]["qlike"] == pytest.approx(bundle.meta.test_range["baselines"]["garch"]["qlike"])
    assert scored["overlaps_training_rows"] == 0


def test_the_registry_gate_judges_the_range_against_ewma(own_home):
    strict_on_range = PromotionConfig(min_accuracy=0.0, min_auc=0.0, min_probability_sd=0.0, brier_below_always_up=False,
                                      auc_above_naive=False, range_beats_ewma=True,
                                      not_worse_than_baselines=False)
    report = ModelRegistry(own_home, promotion=strict_on_range).judge("1")
    scored = report.range
    assert scored["judged"] is True and scored["n"] >= 20
    refused = [f for f in report.failures if "range forecast" in f]
    assert bool(refused) == (scored["model"] >= scored["ewma"]), (scored, report.failures)
    if refused:  # on this synthetic market the small model loses to EWMA: the sentence names both figures
        assert f"QLIKE {scored['model']:.4f} is not below EWMA's {scored['ewma']:.4f}" in refused[0]
