"""Registry operations with the original design's vocabulary (Production, Staging, Archived) on MLflow 3 aliases, on a real local MLflow store."""

import math
import os
import subprocess
import sys

import pytest
from conftest import FIXTURE_END, FIXTURE_START, TINY_CONFIG, TINY_GATE

from sensex.core import jsonlog
from sensex.core.errors import ConfigError, ModelNotFoundError, PromotionRejected
from sensex.core.settings import load_settings
from sensex.data.ingest import update_store
from sensex.jobs import commands
from sensex.serving import ModelRegistry

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory, universe):
    root = tmp_path_factory.mktemp("registry")
    settings = load_settings({"SENSEX_HOME": str(root / "home")})
    update_store(settings, universe, "synthetic", start=FIXTURE_START, end=FIXTURE_END, yahoo_reachable=lambda: False)
    config = root / "tiny.yaml"
    config.write_text(TINY_CONFIG)
    runs = [commands.train(settings, str(config)), commands.train(settings, str(config), model="lstm")]
    return settings, runs


def test_no_production_model_before_setup(two_runs):
    settings, _ = two_runs
    registry = ModelRegistry(settings, model_name="not-yet-registered")
    assert registry.get_production_model() is None
    with pytest.raises(ModelNotFoundError, match="registry setup"):
        registry.evaluate_model_drift({"accuracy": 0.5})


def test_setup_promotes_the_best_version_and_logs_it(two_runs):
    settings, runs = two_runs
    registry = ModelRegistry(settings, promotion=TINY_GATE)
    registry.register_new_runs()
    panel = registry._panel()

    def excess_brier(version: dict) -> tuple[float, int]:  # setup's rule: lowest Brier above always-UP's
        report = registry.judge(version["version"], panel=panel)
        return report.candidate["brier"] - report.baselines["always_up"]["brier"], -int(version["version"])

    best = min(registry.list_all_versions(), key=excess_brier)
    result = registry.setup_automated_promotion()
    versions = registry.list_all_versions()
    assert len(versions) == 2 and result["promoted"] is True
    assert result["version"] == best["version"]
    assert registry.get_production_model()["stage"] == "Production"
    events = jsonlog.read(settings.logs_dir / jsonlog.PROMOTION_LOG)
    assert events[-1]["event_type"] == "promotion" and events[-1]["model_name"] == "sensex-convlstm-model"
    again = registry.setup_automated_promotion()
    assert again["promoted"] is False and again["version"] == best["version"]


def test_promote_archives_the_old_production_and_rollback_restores_it(two_runs):
    settings, _ = two_runs
    registry = ModelRegistry(settings, promotion=TINY_GATE)  # the mechanics, not the gate (tiny models)
    current = registry.get_production_model()["version"]
    other = "1" if current == "2" else "2"
    promoted = registry.promote_model_to_production(other, min_accuracy=0.0)
    assert promoted["version"] == other and promoted["stage"] == "Production"
    old = next(v for v in registry.list_all_versions() if v["version"] == current)
    assert old["stage"] == "Archived" and "previous" in old["aliases"]
    back = registry.rollback()
    assert back["version"] == current
    assert jsonlog.read(settings.logs_dir / jsonlog.PROMOTION_LOG)[-1]["event_type"] == "rollback"


def test_gate_rejects_a_version_below_min_accuracy(two_runs):
    settings, _ = two_runs
    registry = ModelRegistry(settings)
    before = registry.get_production_model()["version"]
    with pytest.raises(PromotionRejected, match="promotion gate"):
        registry.promote_model_to_production("1", min_accuracy=0.99)
    assert registry.get_production_model()["version"] == before
    assert jsonlog.read(settings.logs_dir / jsonlog.PROMOTION_LOG)[-1]["event_type"] == "rejected"


@pytest.mark.parametrize("threshold", [math.nan, math.inf, 1.5, -0.1])
def test_gate_refuses_a_threshold_that_is_not_one(two_runs, threshold):
    """A NaN threshold compares False with every accuracy, so it would pass any version."""
    settings, _ = two_runs
    registry = ModelRegistry(settings)
    before = registry.get_production_model()["version"]
    events = len(jsonlog.read(settings.logs_dir / jsonlog.PROMOTION_LOG))
    with pytest.raises(ConfigError, match="is not a threshold: give a number between 0 and 1"):
        registry.promote_model_to_production("1", min_accuracy=threshold)
    with pytest.raises(ConfigError, match="is not a threshold"):
        registry.gate({"test_accuracy": 0.2, "test_auc": 0.2}, threshold)
    assert registry.get_production_model()["version"] == before
    assert len(jsonlog.read(settings.logs_dir / jsonlog.PROMOTION_LOG)) == events


@pytest.mark.parametrize("threshold", ["nan", "1.5"])
def test_cli_promote_refuses_a_threshold_that_is_not_one(two_runs, threshold):
    settings, _ = two_runs
    env = {**os.environ, "SENSEX_HOME": str(settings.home), "SENSEX_LOG_LEVEL": "WARNING"}
    done = subprocess.run([sys.executable, "-m", "sensex", "registry", "promote", "1", "--min-accuracy", threshold],
                          capture_output=True, text=True, env=env, timeout=300, check=False)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"--min-accuracy {float(threshold)!r} is not a threshold" in lines[0]
    assert "Traceback" not in done.stderr


def test_drift_flags_a_fall_in_accuracy(two_runs):
    settings, _ = two_runs
    registry = ModelRegistry(settings)
    reference = registry.get_production_model()["metrics"]
    same = registry.evaluate_model_drift({"accuracy": reference["test_accuracy"], "auc": reference["test_auc"]})
    assert same["drift_detected"] is False
    worse = registry.evaluate_model_drift({"accuracy": reference["test_accuracy"] - 0.10, "auc": reference["test_auc"]})
    assert worse["drift_detected"] is True and worse["drifted_metrics"] == ["accuracy"]


def test_drift_cli_scores_sessions_after_the_test_window(trained_home):
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "SENSEX_HOME": str(trained_home["settings"].home), "SENSEX_LOG_LEVEL": "WARNING"}
    run = lambda *a: subprocess.run([sys.executable, "-m", "sensex", "registry", "drift", *a], env=env,  # noqa: E731
                                    capture_output=True, text=True, timeout=120)
    # No unseen session: the performance part says so (not judged); features and live still report.
    nothing_new = run("--json")
    assert nothing_new.returncode == 0, nothing_new.stderr
    performance = json.loads(nothing_new.stdout)["performance"]
    assert performance["judged"] is False and "wait for new data" in performance["reason"]
    scored = run("--start", "2021-06-01", "--json")
    assert scored.returncode == 0, scored.stderr
    result = json.loads(scored.stdout)
    assert result["n"] > 100 and set(result["metrics"]) == {"accuracy", "auc", "brier"}
    assert result["performance"]["judged"] is True and result["performance"]["n"] == result["n"]


def test_setup_on_a_fresh_home_prints_no_registration_chatter(tmp_path, universe):
    """MLflow announces "Registered model ... already exists" on stderr when a version is added to
    the registered model setup has just created: on a fresh home that read like an error."""
    settings = load_settings({"SENSEX_HOME": str(tmp_path / "home")})
    update_store(settings, universe, "synthetic", start=FIXTURE_START, end=FIXTURE_END, yahoo_reachable=lambda: False)
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY_CONFIG)
    commands.train(settings, str(config))
    env = {**os.environ, "SENSEX_HOME": str(settings.home), "SENSEX_LOG_LEVEL": "WARNING"}
    done = subprocess.run([sys.executable, "-m", "sensex", "registry", "setup", "--preset", str(config)],
                          capture_output=True, text=True, env=env, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Promoted: v1 ")
    assert "Registered model" not in done.stderr and "already exists" not in done.stderr, done.stderr
    assert "Downloading artifacts" not in done.stderr, done.stderr  # no progress bars around the answer
