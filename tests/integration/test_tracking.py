"""What a training run leaves in MLflow: a pyfunc-loadable ONNX model and a reliability plot."""

import numpy as np
import pytest

from sensex.registry import tracking

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def run(trained_home):
    import mlflow

    tracking.configure(trained_home["settings"])
    return mlflow.MlflowClient().get_run(trained_home["train"]["run_id"])


def test_logged_onnx_model_loads_with_pyfunc_and_matches_the_bundle(trained_home, run, tmp_path):
    import mlflow

    from sensex.models.bundle import load_bundle

    model = mlflow.pyfunc.load_model(run.data.tags[tracking.MODEL_URI_TAG])
    shape = model.metadata.get_input_schema().inputs[0].shape  # (-1, T, S, C)
    assert shape[0] == -1
    windows = np.random.default_rng(0).standard_normal((5, *shape[1:])).astype(np.float32)
    windows[..., -1] = 1.0
    out = model.predict(windows)
    logits = np.asarray(out["logit"] if isinstance(out, dict) else out).reshape(-1)
    local = mlflow.artifacts.download_artifacts(artifact_uri=run.data.tags[tracking.MODEL_URI_TAG], dst_path=str(tmp_path))
    np.testing.assert_allclose(logits, load_bundle(local).logits(windows), atol=1e-6)


def test_run_has_reliability_plot_features_and_gbm_baseline(trained_home, run, tmp_path):
    import mlflow

    names = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id)}
    assert {tracking.RELIABILITY_PLOT, "features.json", "evaluation.json", tracking.WEIGHTS_ARTIFACT} <= names
    assert "bundle" not in names  # the model is logged once, as the MLflow model
    plot = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path=tracking.RELIABILITY_PLOT,
                                               dst_path=str(tmp_path))
    with open(plot, "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    assert "baseline_gbm_test_auc" in run.data.metrics
    assert set(trained_home["train"]["baselines"]) >= {"always_up", "prev_day", "logreg", "gbm"}


def test_a_run_is_named_for_what_it_is_and_lasts_as_long_as_its_training(trained_home, run):
    """`sensex-close-convlstm-tiny-manual`, not one name for every run; its duration in MLflow
    covers the training, not only the logging that follows it."""
    trained = trained_home["train"]
    assert run.info.run_name == f"sensex-close-{trained['model']}-{trained['preset']}-manual"
    assert run.data.tags["trigger"] == "manual"
    duration = (run.info.end_time - run.info.start_time) / 1000
    assert duration >= trained["seconds"]  # the logging comes on top of the training
