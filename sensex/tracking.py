"""MLflow tracking: the one place training talks to MLflow.

One experiment; a run per training with the whole config as params, model and baseline metrics
per segment, the data fingerprint, the git commit, a reliability plot of the calibrated test
probabilities, and the model logged with `mlflow.onnx` (signature included, so
`mlflow.pyfunc.load_model` returns raw logits under "logit") carrying its preprocessing and
metadata as extra files, so that `models:/sensex-convlstm-model@production` holds everything
serving needs.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import tempfile
from pathlib import Path

from sensex.settings import Settings

log = logging.getLogger(__name__)

EXPERIMENT = "sensex-next-session-direction"
MODEL_ARTIFACT = "model"
MODEL_URI_TAG = "model_uri"
RELIABILITY_PLOT = "reliability_test.png"
SUMMARY_METRICS = ("accuracy", "auc", "brier", "f1", "precision", "recall", "ece")


def configure(settings: Settings):
    """Point MLflow at the settings' tracking URI; returns the experiment id."""
    import mlflow

    os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    settings.home.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(settings.tracking_uri)
    experiment = mlflow.get_experiment_by_name(EXPERIMENT)
    if experiment is not None:
        return experiment.experiment_id
    # With a local database the artifacts must live under SENSEX_HOME, not in ./mlruns;
    # an MLflow server decides its artifact root itself.
    location = None if settings.tracking_uri.startswith("http") else settings.artifacts_dir.as_uri()
    return mlflow.create_experiment(EXPERIMENT, artifact_location=location)


def git_commit() -> str | None:
    try:
        here = Path(__file__).resolve().parent
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def flat_metrics(evaluation: dict) -> dict[str, float]:
    """`test_auc`, `valid_brier`, `baseline_logreg_test_auc`, ... as plain floats."""
    out: dict[str, float] = {}
    for segment, report in evaluation["model"].items():
        for key in SUMMARY_METRICS + ("n", "up_share"):
            out[f"{segment}_{key}"] = float(report[key])
    for baseline, segments in evaluation["baselines"].items():
        for segment, report in segments.items():
            for key in SUMMARY_METRICS:
                out[f"baseline_{baseline}_{segment}_{key}"] = float(report[key])
    return {k: v for k, v in out.items() if v == v}  # MLflow rejects NaN in some stores


def _serving_requirements() -> list[str]:
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for package in ("onnx", "onnxruntime", "numpy"):
        try:
            out.append(f"{package}=={version(package)}")
        except PackageNotFoundError:
            out.append(package)
    return out


def log_training_run(settings: Settings, config, report: dict, data_info: dict) -> str:
    """Log one training run; returns its run id."""
    import mlflow
    import mlflow.onnx
    import numpy as np
    import onnx
    from mlflow.models import infer_signature

    from sensex.models.reliability import plot_reliability

    experiment_id = configure(settings)
    bundle = Path(report["bundle_dir"])
    run_name = f"{report['model']}-{config.name}"
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run:
        params = config.flat()
        params.update({"model.kind": report["model"], **{f"segment.{k}": f"{v[0]}..{v[1]}" for k, v in report["segments"].items()}})
        params.update({f"data.{k}": v for k, v in data_info.items() if k != "symbols"})
        mlflow.log_params(params)
        mlflow.log_metrics(flat_metrics(report["evaluation"]))
        mlflow.log_metric("train_seconds", report["seconds"])
        for name, seconds in report.get("baseline_seconds", {}).items():
            mlflow.log_metric(f"baseline_{name}_fit_seconds", seconds)
        mlflow.log_metric("onnx_parity_max_abs", report["onnx_parity_max_abs"])
        for row in report["history"]:
            mlflow.log_metrics({"train_loss": row["train_loss"], "valid_loss": row["valid_loss"]}, step=row["epoch"])
        mlflow.set_tags({
            "git_commit": git_commit() or "unknown",
            "data_source": data_info.get("source", "unknown"),
            "synthetic": str(data_info.get("source") == "synthetic").lower(),
            "data_hash": data_info.get("content_hash", ""),
            "model_kind": report["model"],
        })
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "evaluation.json"
            path.write_text(json.dumps({k: report[k] for k in ("evaluation", "segments", "history")}, indent=1))
            mlflow.log_artifact(str(path))
            meta = json.loads((bundle / "model.json").read_text())
            features = Path(tmp) / "features.json"
            features.write_text(json.dumps({"stock": meta.get("feature_registry", []),
                                            "market": meta.get("market_features", [])}, indent=1))
            mlflow.log_artifact(str(features))
            test = report.get("predictions", {}).get("test")
            if test is not None:
                plot = plot_reliability(test["label"], test["probability"], Path(tmp) / RELIABILITY_PLOT,
                                        f"Reliability: {report['model']} test {'..'.join(report['segments']['test'])}")
                mlflow.log_artifact(str(plot))
        mlflow.log_artifacts(str(bundle), artifact_path="bundle")
        example = report["example_window"].astype(np.float32)
        signature = infer_signature(example, np.zeros((1,), dtype=np.float32))
        model_info = mlflow.onnx.log_model(
            onnx.load(str(bundle / "model.onnx")),
            name=MODEL_ARTIFACT,
            signature=signature,
            extra_files=[str(bundle / "preprocessing.json"), str(bundle / "model.json")],
            save_as_external_data=False,
            # Stated, not inferred: inference imports the whole process in a subprocess (seconds).
            pip_requirements=_serving_requirements(),
        )
        # MLflow 3 keeps logged models apart from run artifacts: remember where it went.
        mlflow.set_tag(MODEL_URI_TAG, model_info.model_uri)
        return run.info.run_id


def log_walk_forward_run(settings: Settings, config, summary: dict, data_info: dict) -> str:
    """A walk-forward evaluation as its own run: pooled metrics of the model and the baselines."""
    import mlflow

    experiment_id = configure(settings)
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"walk-forward-{summary['model']}-{config.name}") as run:
        mlflow.log_params({**config.flat(), "model.kind": summary["model"], "walk_forward.start": summary["start"],
                           "walk_forward.end": summary["end"], "walk_forward.refit_months": summary["refit_months"],
                           **{f"data.{k}": v for k, v in data_info.items()}})
        metrics = {f"wf_{k}": v for k, v in summary["metrics"].items()}
        for name, values in summary["baselines"].items():
            metrics.update({f"baseline_{name}_wf_{k}": v for k, v in values.items()})
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v == v})
        mlflow.set_tags({"evaluation": "walk-forward", "model_kind": summary["model"], "git_commit": git_commit() or "unknown",
                         "data_source": data_info.get("source", "unknown"), "data_hash": data_info.get("content_hash", "")})
        mlflow.log_dict(summary, "walk_forward.json")
        return run.info.run_id
