"""`sensex tune`: Ray Tune over the preset's hyper-parameters on the synthetic market. The best
configuration becomes a preset `sensex train` takes, each trial is an MLflow child run of one
parent run, and the test window is never read."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import FIXTURE_END, FIXTURE_START, TINY_CONFIG

from sensex.core.settings import load_settings
from sensex.data.ingest import update_store
from sensex.jobs import commands, tuning
from sensex.models import cluster
from sensex.models.config import load_config
from sensex.models.segments import split_segments
from sensex.registry import tracking

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.ray]


@pytest.fixture(scope="module")
def synthetic_home(tmp_path_factory, universe):
    root = tmp_path_factory.mktemp("tune")
    settings = load_settings({"SENSEX_HOME": str(root / "home")})
    update_store(settings, universe, "synthetic", start=FIXTURE_START, end=FIXTURE_END, yahoo_reachable=lambda: False)
    preset = root / "tiny.yaml"
    preset.write_text(TINY_CONFIG)
    yield settings, preset, root
    cluster.shutdown()


@pytest.fixture(scope="module")
def tuned(synthetic_home):
    settings, preset, root = synthetic_home
    return tuning.tune(settings, str(preset), trials=3, output=root / "tuned.yaml")


def test_the_best_trial_is_written_as_a_preset_that_trains(tuned, synthetic_home):
    settings, preset, root = synthetic_home
    path = root / "tuned.yaml"
    text = path.read_text()
    assert text.startswith("# Tuned by `sensex tune --preset")
    for words in ("Optuna TPE", "ASHA", "validation window only", "The test window was never read", "Best: trial"):
        assert words in text
    trials = tuned["trials"]
    assert len(trials) == 3 and trials[0]["preset"] and trials[0]["params"] == tuning.preset_point(load_config(preset), "convlstm")
    best = tuned["best"]
    assert best["valid_log_loss"] == min(t["valid_log_loss"] for t in trials if t["valid_log_loss"] is not None)
    config = load_config(path)
    assert config.name == "tuned"
    assert (config.model.hidden, config.model.projection, config.features.window, config.train.epochs) == (
        best["params"]["width"], best["params"]["width"], best["params"]["window"], best["params"]["epochs"])
    assert config.train.learning_rate == pytest.approx(best["params"]["learning_rate"])
    assert config.promotion == load_config(preset).promotion  # everything not searched is the preset's
    trained = commands.train(settings, str(path))
    assert trained["preset"] == "tuned" and 0 <= trained["metrics"]["test_auc"] <= 1


def test_each_trial_is_an_mlflow_child_run_of_one_parent(tuned, synthetic_home):
    from mlflow import MlflowClient

    settings, *_ = synthetic_home
    client = MlflowClient(tracking_uri=settings.tracking_uri)
    parent = client.get_run(tuned["run_id"])
    assert parent.info.status == "FINISHED" and parent.data.tags["evaluation"] == "tuning"
    assert parent.data.metrics["best_valid_log_loss"] == pytest.approx(tuned["best"]["valid_log_loss"])
    assert {a.path for a in client.list_artifacts(tuned["run_id"])} >= {"tuned.yaml", "tuning.json"}
    experiment = client.get_experiment_by_name(tracking.EXPERIMENT)
    children = client.search_runs([experiment.experiment_id], f"tags.mlflow.parentRunId = '{tuned['run_id']}'")
    assert len(children) == 3
    assert all(child.info.status == "FINISHED" and "valid_loss" in child.data.metrics for child in children)
    complete = [child for child in children if "valid_log_loss" in child.data.metrics]
    assert sorted(c.data.metrics["valid_log_loss"] for c in complete) == pytest.approx(
        sorted(t["valid_log_loss"] for t in tuned["trials"] if t["valid_log_loss"] is not None))


def test_the_test_window_is_never_read(synthetic_home, universe, monkeypatch):
    """Flip the test window's labels and scramble its features: the same trials, the same scores
    (one trial at a time, so ASHA's decisions do not depend on which trial reports first)."""
    from sensex.features import dataset

    settings, preset, root = synthetic_home
    original = dataset.load_panel(settings, universe)
    segments = split_segments(original, load_config(preset))
    after = np.arange(len(original.dates)) > segments.valid[-1]
    rng = np.random.default_rng(1)
    label, stock, market = original.label.copy(), original.stock.copy(), original.market.copy()
    label[after] = 1.0 - label[after]
    stock[after] = rng.permutation(stock[after])
    market[after] = market[after] * 3.0 + 1.0
    altered = dataclasses.replace(original, label=label, stock=stock, market=market)

    def runs(panel, name):
        monkeypatch.setattr(dataset, "load_panel", lambda *args, **kwargs: panel)
        result = tuning.tune(settings, str(preset), trials=2, output=root / f"{name}.yaml", concurrent=1)
        return [(t["params"], t["valid_log_loss"], t["valid_auc"], t["status"]) for t in result["trials"]]

    assert runs(altered, "altered") == runs(original, "original")
