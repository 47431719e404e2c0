"""`--model ensemble`: ConvLSTM seeds in one ONNX graph plus the baselines, combined on the
validation window only; serving reproduces training without torch."""

import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import onnx
import pytest
from conftest import FIXTURE_END, FIXTURE_START, TINY_GATE

from sensex.core.settings import load_settings
from sensex.data.ingest import update_store
from sensex.features.dataset import load_panel
from sensex.jobs import commands
from sensex.models.bundle import ONNX_FILE, load_bundle
from sensex.models.config import config_from_dict
from sensex.models.evaluate import predict_rows
from sensex.models.segments import split_segments
from sensex.models.train import train_model
from sensex.serving import ModelRegistry

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TINY_ENSEMBLE = {
    "model": {"hidden": 4, "projection": 4, "dropout": 0.0, "ensemble_seeds": 2},
    "train": {"epochs": 2, "patience": 1, "max_train_windows": 200, "valid_sessions": 60, "test_sessions": 60,
              "batch_size": 32, "workers": 1},  # seeds as Ray tasks: test_seeds_as_ray_tasks_are_...
    "promotion": {"min_accuracy": 0.0, "min_auc": 0.0, "min_probability_sd": 0.0, "brier_below_always_up": False,
                  "auc_above_naive": False, "not_worse_than_baselines": False},
}


@pytest.fixture(scope="module")
def ensemble_home(tmp_path_factory, universe):
    root = tmp_path_factory.mktemp("ensemble")
    settings = load_settings({"SENSEX_HOME": str(root / "home")})
    update_store(settings, universe, "synthetic", start=FIXTURE_START, end=FIXTURE_END, yahoo_reachable=lambda: False)
    panel = load_panel(settings, universe)
    config = config_from_dict(TINY_ENSEMBLE, "tiny-ensemble")
    report = train_model(panel, config, root / "bundle", "ensemble")
    return settings, panel, config, report, root


def test_the_seeds_are_one_onnx_graph_and_the_combiner_is_json(ensemble_home):
    _, _, _, report, root = ensemble_home
    graph = onnx.load(str(root / "bundle" / ONNX_FILE))
    # "member_logits" are the seeds' own logits; "stock_logits" each stock's.
    assert [o.name for o in graph.graph.output] == ["logit", "member_logits", "stock_logits"]
    meta = load_bundle(root / "bundle").meta
    assert meta.kind == "ensemble" and meta.ensemble["seeds"] == [7, 8]
    assert meta.ensemble["inputs"] == ["convlstm_seeds", "logreg", "gbm"]
    assert meta.ensemble["combiner"]["rule"] in ("stacking", "voting")
    assert meta.ensemble["combiner"]["fit_start"] == report.segments["valid"][0]
    assert report.onnx_parity_max_abs < 1e-5
    u = meta.uncertainty
    assert u["method"] == "split-conformal+seed-spread" and 0 <= u["test_coverage"] <= 1
    assert u["skill"]["skill"] in ("shown", "none") and u["fallback"]["name"] == "logreg"


def test_serving_reproduces_the_training_probabilities_and_intervals(ensemble_home):
    _, panel, config, report, root = ensemble_home
    bundle = load_bundle(root / "bundle")
    test_rows = split_segments(panel, config).test
    p, spread = predict_rows(bundle, panel, test_rows)
    np.testing.assert_allclose(p, report.predictions["test"]["probability"], atol=1e-5)
    assert spread.shape == (len(test_rows), 2) and (spread[:, 0] <= p + 1e-9).all() and (p <= spread[:, 1] + 1e-9).all()


def test_the_test_window_labels_change_nothing_the_ensemble_learnt(ensemble_home):
    _, panel, config, report, root = ensemble_home
    test_rows = split_segments(panel, config).test
    flipped = panel.label.copy()
    flipped[test_rows] = 1.0 - flipped[test_rows]
    again = train_model(dataclasses.replace(panel, label=flipped), config, root / "bundle-flipped", "ensemble")
    assert again.ensemble["combiner"] == report.ensemble["combiner"]
    np.testing.assert_array_equal(again.predictions["test"]["probability"], report.predictions["test"]["probability"])
    assert load_bundle(root / "bundle-flipped").meta.uncertainty["half_width"] == report.uncertainty["half_width"]


def test_a_registered_ensemble_serves_without_torch(ensemble_home, tmp_path):
    settings, *_ = ensemble_home
    yaml_path = tmp_path / "tiny-ensemble.yaml"
    yaml_path.write_text(json.dumps(TINY_ENSEMBLE))  # JSON is YAML
    trained = commands.train(settings, str(yaml_path), model="ensemble")
    assert trained["model"] == "ensemble" and trained["ensemble"]["combiner"]["rule"] in ("stacking", "voting")
    assert {"test_accuracy", "test_auc", "test_brier", "test_f1"} <= set(trained["metrics"])
    ModelRegistry(settings, promotion=TINY_GATE).setup_automated_promotion()
    # Any import of torch fails (a finder that refuses it: `sys.modules['torch'] = None` would
    # also break libraries that only look for torch arrays in sys.modules, as scipy does).
    script = ("import sys, json\n"
              "class NoTorch:\n"
              "    def find_spec(self, name, path=None, target=None):\n"
              "        if name.split('.')[0] == 'torch':\n"
              "            raise ImportError('torch is not in the serving process')\n"
              "sys.meta_path.insert(0, NoTorch())\n"
              "from sensex.serving.model_server import ModelServer\n"
              "s = ModelServer(); f = s.predict(log_prediction=False); e = s.explain()\n"
              "print(json.dumps({'forecast': f, 'explained': e['probability'], 'torch': 'torch' in sys.modules}))")
    env = {**os.environ, "SENSEX_HOME": str(settings.home), "SENSEX_LOG_LEVEL": "WARNING"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    forecast = result["forecast"]
    assert forecast["model_kind"] == "ensemble" and result["torch"] is False
    assert result["explained"] == pytest.approx(forecast["probability"], abs=1e-4)
    low, high = forecast["interval"]
    assert low <= forecast["probability"] <= high and forecast["no_call"] == (low <= 0.5 <= high)


@pytest.mark.ray
def test_seeds_as_ray_tasks_are_the_one_process_networks(ensemble_home):
    """`train.workers: 2` fits the seeds as Ray tasks on a local instance of two CPUs, at one
    torch thread each: the same networks, bit for bit, and the same combined forecasts as one
    process at `threads: 1` (tests/integration/test_ray_training.py kills a worker mid-fit)."""
    from sensex.models import cluster
    from sensex.models.baselines import fit_baselines
    from sensex.models.train import fit_ensemble
    from sensex.models.walkforward import _weights_digest

    _, panel, config, _, _ = ensemble_home
    segments = split_segments(panel, config)
    portable = fit_baselines(panel, segments.train)

    def fitted(workers: int, threads: int):
        chosen = config.model_copy(update={"train": config.train.model_copy(update={"workers": workers, "threads": threads})})
        return fit_ensemble(panel, segments, chosen, portable)

    try:
        alone, side_by_side = fitted(1, 1), fitted(2, 2)
    finally:
        cluster.shutdown()
    assert [_weights_digest(n) for n in side_by_side.network.networks] == [_weights_digest(n) for n in alone.network.networks]
    for segment in ("valid", "test"):
        np.testing.assert_array_equal(side_by_side.probability[segment], alone.probability[segment])
    assert side_by_side.seed_epochs == alone.seed_epochs
