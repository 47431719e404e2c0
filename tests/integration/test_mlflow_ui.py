"""The MLflow side a person opens: the experiment opens on training runs, each run names its
training data as a dataset input, each model version says how the gate judged it, and
`sensex mlflow` serves the project's own store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest
from conftest import free_port
from mlflow import MlflowClient

from sensex.core.settings import load_settings
from sensex.data import store
from sensex.registry import tracking
from sensex.registry.model_registry import MODEL_NAME

pytestmark = pytest.mark.integration


def test_the_experiment_is_tagged_for_the_training_runs_view(trained_home):
    settings = trained_home["settings"]
    experiment = MlflowClient(settings.tracking_uri).get_experiment_by_name(tracking.EXPERIMENT)
    assert experiment.tags[tracking.EXPERIMENT_KIND_TAG] == "custom_model_development"


def test_an_older_experiment_gets_the_tag_when_the_ui_is_opened(tmp_path):
    import mlflow

    settings = load_settings({"SENSEX_HOME": str(tmp_path / "home")})
    settings.home.mkdir(parents=True)
    mlflow.set_tracking_uri(settings.tracking_uri)
    experiment_id = mlflow.create_experiment(tracking.EXPERIMENT, artifact_location=settings.artifacts_dir.as_uri())
    client = MlflowClient(settings.tracking_uri)
    assert tracking.EXPERIMENT_KIND_TAG not in client.get_experiment(experiment_id).tags
    tracking.ensure_experiment_kind(settings)
    assert client.get_experiment(experiment_id).tags[tracking.EXPERIMENT_KIND_TAG] == "custom_model_development"


def test_the_training_data_is_a_dataset_input_of_the_run(trained_home):
    settings = trained_home["settings"]
    run = MlflowClient(settings.tracking_uri).get_run(trained_home["train"]["run_id"])
    inputs = run.inputs.dataset_inputs
    assert len(inputs) == 1
    dataset = inputs[0].dataset
    assert dataset.digest == store.read_meta(settings.store_dir)["content_hash"]
    assert dataset.name == "sensex-synthetic-ohlcv"
    assert {tag.key: tag.value for tag in inputs[0].tags}.get("mlflow.data.context") == "training"
    assert '"num_rows": 3' in dataset.profile  # one row per segment, not the store's rows


def test_each_version_describes_its_gate_result(trained_home):
    settings = trained_home["settings"]
    version = MlflowClient(settings.tracking_uri).get_model_version(MODEL_NAME, trained_home["promoted"]["version"])
    assert "Promotion gate (accuracy >= 0.000, AUC >= 0.000): passes it." in version.description
    assert "Test accuracy" in version.description and "Promoted to Production on" in version.description


def test_the_runs_url_selects_the_model_training_workflow():
    # MLflow 3.17's UI keeps a GenAI/model-training switch in the browser; the query parameter wins.
    assert (tracking.runs_url("http://127.0.0.1:5000", "7")
            == "http://127.0.0.1:5000/#/experiments/7/runs?workflowType=machine_learning")


@pytest.mark.slow
def test_sensex_mlflow_serves_the_project_store(trained_home):
    settings = trained_home["settings"]
    port = free_port()
    env = {**os.environ, "SENSEX_HOME": str(settings.home)}
    process = subprocess.Popen([sys.executable, "-m", "sensex", "mlflow", "--port", str(port)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    try:
        first_line = process.stdout.readline()
        experiment_id = MlflowClient(settings.tracking_uri).get_experiment_by_name(tracking.EXPERIMENT).experiment_id
        assert tracking.runs_url(f"http://127.0.0.1:{port}", experiment_id) in first_line
        assert settings.tracking_uri in first_line
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ajax-api/2.0/mlflow/experiments/get-by-name"
                                            f"?experiment_name={tracking.EXPERIMENT}", timeout=5) as response:
                    body = response.read().decode()
                break
            except OSError:
                assert process.poll() is None, "sensex mlflow exited"
                assert time.monotonic() < deadline, "the MLflow UI did not answer within 120 s"
                time.sleep(1)
        assert f'"experiment_id": "{experiment_id}"' in body and "custom_model_development" in body
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
            assert response.status == 200
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # the UI and the uvicorn it started: our own session
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def test_a_refused_promotion_is_written_on_the_version(trained_home, tmp_path):
    import shutil

    from sensex.core.errors import PromotionRejected
    from sensex.models.config import PromotionConfig
    from sensex.serving import ModelRegistry

    home = tmp_path / "home"  # a copy: the session's registry keeps its own descriptions
    shutil.copytree(trained_home["settings"].home, home, symlinks=True)
    settings = load_settings({"SENSEX_HOME": str(home)})
    registry = ModelRegistry(settings, promotion=PromotionConfig(min_accuracy=0.0, min_auc=0.0))
    with pytest.raises(PromotionRejected):
        registry.promote_model_to_production("1", min_accuracy=0.99)
    description = MlflowClient(settings.tracking_uri).get_model_version(MODEL_NAME, "1").description
    assert "Promotion gate (accuracy >= 0.990, AUC >= 0.000): fails it (test accuracy" in description
    assert description.endswith("Promotion refused.")
