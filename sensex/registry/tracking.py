"""MLflow runs and artifacts: the one place that logs runs and fetches models from them
(the registry's aliases and versions live in `sensex.registry.model_registry`).

One experiment; a run per training with the whole config as params, model and baseline metrics
per segment, the data fingerprint, the git commit, a reliability plot of the calibrated test
probabilities, the torch weights (for retraining, never served), and the model logged ONCE with
`mlflow.onnx` (signature included, so `mlflow.pyfunc.load_model` returns raw logits under
"logit") carrying its preprocessing and metadata as extra files: the logged model directory is
the bundle `sensex.models.bundle` reads, so `models:/sensex-convlstm-model@production` holds
everything serving needs, and `fetch_bundle` is the one way to get it onto local disk.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from sensex.core.processes import current_owner, owned_prefix, scratch_dir
from sensex.core.settings import Settings

log = logging.getLogger(__name__)

EXPERIMENT = "sensex-next-session-direction"
MODEL_ARTIFACT = "model"
MODEL_URI_TAG = "model_uri"
UNIVERSE_TAG = "universe"  # sensex | nifty50 | a file's name: which universe's registered model (absent = sensex)
MODE_TAG = "mode"  # close | preopen: which registered model the run belongs to (absent = close)
WEIGHTS_ARTIFACT = "weights"
RELIABILITY_PLOT = "reliability_test.png"
SUMMARY_METRICS = ("accuracy", "auc", "brier", "f1", "precision", "recall", "ece")
# MLflow 3's UI opens an experiment on the view its kind names; without the tag it guesses GenAI.
EXPERIMENT_KIND_TAG, EXPERIMENT_KIND = "mlflow.experimentKind", "custom_model_development"
# MLflow draws a progress bar on stderr for every model download, even into a log file: a
# `registry setup` printed seven of them around its one-line answer. Every MLflow call of the
# project goes through this module, so it is said once here (a user's own setting wins).
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def configure(settings: Settings):
    """Point MLflow at the settings' tracking URI; returns the experiment id."""
    import mlflow

    os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    settings.home.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(settings.tracking_uri)
    experiment = mlflow.get_experiment_by_name(EXPERIMENT)
    if experiment is not None:
        _keep_artifacts_in_home(settings, experiment)
        return experiment.experiment_id
    # With a local database the artifacts must live under SENSEX_HOME, not in ./mlruns;
    # an MLflow server decides its artifact root itself.
    location = None if settings.tracking_uri.startswith("http") else settings.artifacts_dir.as_uri()
    return mlflow.create_experiment(EXPERIMENT, artifact_location=location,
                                    tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND})


def _keep_artifacts_in_home(settings: Settings, experiment) -> None:
    """In a moved or copied home the experiment still records the old home's `mlartifacts`
    (MLflow stores it absolute and has no API to change it): new runs would write there. Point it
    at this home's folder, in the home's own database only."""
    import sqlite3
    from urllib.parse import unquote, urlparse

    if settings.tracking_uri != f"sqlite:///{settings.home / 'mlflow.db'}":
        return
    location = experiment.artifact_location or ""
    if not location.startswith("file:") or Path(unquote(urlparse(location).path)) == settings.artifacts_dir:
        return
    log.info("The experiment's artifacts were recorded at %s (this home was moved or copied): new runs go to %s.",
             location, settings.artifacts_dir)
    db = sqlite3.connect(settings.home / "mlflow.db")
    try:
        with db:
            db.execute("UPDATE experiments SET artifact_location = ? WHERE experiment_id = ?",
                       (settings.artifacts_dir.as_uri(), int(experiment.experiment_id)))
    except sqlite3.Error as exc:  # a read-only home still serves: reads are mapped (_relocated_source)
        log.debug("The experiment's artifact location was not updated: %s", exc)
    finally:
        db.close()


def ensure_experiment_kind(settings: Settings) -> None:
    """Tag an experiment created before the kind tag existed (`sensex mlflow` calls this)."""
    from mlflow import MlflowClient

    experiment_id = configure(settings)
    client = MlflowClient(tracking_uri=settings.tracking_uri)
    if client.get_experiment(experiment_id).tags.get(EXPERIMENT_KIND_TAG) != EXPERIMENT_KIND:
        client.set_experiment_tag(experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)


def runs_url(base: str, experiment_id: str) -> str:
    """The MLflow UI page listing the experiment's training runs (the UI remembers a GenAI
    workflow in the browser; the query parameter overrides it)."""
    return f"{base}/#/experiments/{experiment_id}/runs?workflowType=machine_learning"


def _log_training_data(report, data_info: dict) -> None:
    """The training data as an MLflow dataset input: its fingerprint and the segments, not the rows."""
    import mlflow
    import pandas as pd

    frame = pd.DataFrame([
        {"segment": name, "first_session": bounds[0], "last_session": bounds[1],
         "data_source": data_info.get("source"), "store_rows": data_info.get("rows"),
         "store_first_date": data_info.get("first_date"), "store_last_date": data_info.get("last_date"),
         "content_hash": data_info.get("content_hash")}
        for name, bounds in report.segments.items()
    ])
    name = f"sensex-{data_info.get('source', 'unknown')}-ohlcv"
    dataset = mlflow.data.from_pandas(frame, name=name, digest=data_info.get("content_hash") or None)
    mlflow.log_input(dataset, context="training")


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
    # `test_after_open_auc`, `baseline_sp500_rule_test_after_open_auc`: against close > open.
    after_open = evaluation.get("after_open", {})
    for segment, report in after_open.get("model", {}).items():
        for key in SUMMARY_METRICS:
            out[f"{segment}_after_open_{key}"] = float(report[key])
    for baseline, segments in after_open.get("baselines", {}).items():
        for segment, report in segments.items():
            for key in SUMMARY_METRICS:
                out[f"baseline_{baseline}_{segment}_after_open_{key}"] = float(report[key])
    out.update(member_metrics(evaluation.get("members")))
    # `range_test_qlike`, `range_test_coverage_80`, `range_baseline_ewma_test_qlike`: the range forecast.
    out.update(range_metrics(evaluation.get("range")))
    return {k: v for k, v in out.items() if v == v}  # MLflow rejects NaN in some stores


def range_metrics(report: dict | None, prefix: str = "range_test") -> dict[str, float]:
    from sensex.models.range_fit import mlflow_metrics

    return mlflow_metrics(report, prefix)


MEMBER_METRICS = ("auc_pooled", "auc_member_median", "ic_mean", "ic_t", "sector_auc_pooled")


def member_metrics(members: dict | None) -> dict[str, float]:
    """`members_test_ic_mean`, `baseline_reversal_members_test_ic_mean`, `members_valid_network_auc_pooled`, ..."""
    if not members:
        return {}
    out = {f"members_test_{key}": members["model"][key] for key in MEMBER_METRICS}
    for baseline, scored in members["baselines"].items():
        out |= {f"baseline_{baseline}_members_test_{key}": scored[key] for key in MEMBER_METRICS}
    for candidate, scored in members.get("selection", {}).items():
        if isinstance(scored, dict):
            out |= {f"members_valid_{candidate}_{key}": scored[key] for key in MEMBER_METRICS}
    return {k: float(v) for k, v in out.items() if v is not None}


def _serving_requirements() -> list[str]:
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for package in ("onnx", "onnxruntime", "numpy"):
        try:
            out.append(f"{package}=={version(package)}")
        except PackageNotFoundError:
            out.append(package)
    return out


def run_name(universe: str, mode: str, model: str, preset: str, trigger: str) -> str:
    """What the MLflow UI lists a run as: `sensex-preopen-ensemble-full-daily` says what it is."""
    return "-".join(str(part) for part in (universe, mode, model, preset, trigger))


def log_training_run(settings: Settings, config, report, data_info: dict, started_at: float | None = None,
                     trigger: str = "manual") -> str:
    """Log one training run (`report` is a `sensex.models.train.TrainingReport`); returns its run id.
    `started_at` (a `time.time()`) is when the training began, so the run's duration in MLflow is
    the training's, not the logging's; `trigger` says who asked (manual, daily, bench, ...)."""
    import mlflow
    import mlflow.onnx
    import numpy as np
    import onnx
    from mlflow.models import infer_signature

    from sensex.models.bundle import META_FILE, ONNX_FILE, SCALER_FILE, bundle_files, load_bundle
    from sensex.models.reliability import plot_reliability

    experiment_id = configure(settings)
    bundle_dir = Path(report.bundle_dir)
    meta = load_bundle(bundle_dir).meta
    name = run_name(data_info.get("universe") or "sensex", meta.mode, report.model, config.name, trigger)
    # The owner's identity on the run: a run left RUNNING by a killed process is recognised as such
    # by `sensex registry doctor` (and marked FAILED).
    created = mlflow.MlflowClient().create_run(
        experiment_id, run_name=name, tags={**current_owner().tags(), "trigger": trigger},
        start_time=int((started_at or time.time()) * 1000))
    with mlflow.start_run(run_id=created.info.run_id) as run:
        params = config.flat()
        params.update({"model.kind": report.model, **{f"segment.{k}": f"{v[0]}..{v[1]}" for k, v in report.segments.items()}})
        params.update({f"data.{k}": v for k, v in data_info.items() if k != "symbols"})
        mlflow.log_params(params)
        mlflow.log_metrics(flat_metrics(report.evaluation))
        mlflow.log_metric("train_seconds", report.seconds)
        for name, seconds in report.baseline_seconds.items():
            mlflow.log_metric(f"baseline_{name}_fit_seconds", seconds)
        mlflow.log_metric("onnx_parity_max_abs", report.onnx_parity_max_abs)
        if getattr(report, "range_seconds", None) is not None:
            mlflow.log_metric("range_fit_seconds", report.range_seconds)
        _log_training_data(report, data_info)
        uncertainty = report.uncertainty or {}
        mlflow.log_metrics({name: float(uncertainty[key]) for name, key in (
            ("test_interval_coverage", "test_coverage"), ("test_no_call_share", "test_no_call_share"),
            ("test_probability_sd", "test_probability_sd"), ("conformal_half_width", "half_width"))
            if uncertainty.get(key) is not None})
        for row in report.history:
            mlflow.log_metrics({"train_loss": row["train_loss"], "valid_loss": row["valid_loss"]}, step=row["epoch"])
        mlflow.set_tags({
            "git_commit": git_commit() or "unknown",
            "data_source": data_info.get("source", "unknown"),
            "synthetic": str(bool(data_info.get("synthetic"))).lower(),
            "data_hash": data_info.get("content_hash", ""),
            "model_kind": report.model,
            MODE_TAG: meta.mode,
            UNIVERSE_TAG: data_info.get("universe") or "sensex",
            "skill": (report.uncertainty or {}).get("skill", {}).get("skill", "none"),
        })
        with scratch_dir(settings.home, "run") as tmp:
            path = Path(tmp) / "evaluation.json"
            path.write_text(json.dumps({"evaluation": report.evaluation, "segments": report.segments,
                                        "history": report.history}, indent=1))
            mlflow.log_artifact(str(path))
            features = Path(tmp) / "features.json"
            features.write_text(json.dumps({"stock": meta.feature_registry, "market": meta.market_features}, indent=1))
            mlflow.log_artifact(str(features))
            test = report.predictions.get("test")
            if test is not None:
                plot = plot_reliability(test["label"], test["probability"], Path(tmp) / RELIABILITY_PLOT,
                                        f"Reliability: {report.model} test {'..'.join(report.segments['test'])}")
                mlflow.log_artifact(str(plot))
        mlflow.log_artifact(str(report.weights_file), artifact_path=WEIGHTS_ARTIFACT)
        files = bundle_files(bundle_dir)
        outputs = np.zeros((1,), dtype=np.float32)
        if meta.kind == "ensemble":  # the seeds' graph also outputs each seed's logit
            outputs = {"logit": outputs, "member_logits": np.zeros((1, len(meta.ensemble["seeds"])), dtype=np.float32)}
        if meta.members:  # each stock's logit too: the member forecasts come from the same graph
            outputs = (outputs if isinstance(outputs, dict) else {"logit": outputs}) | {
                meta.members["output"]: np.zeros((1, len(meta.symbols)), dtype=np.float32)}
        signature = infer_signature(report.example_window.astype(np.float32), outputs)
        model_info = mlflow.onnx.log_model(
            onnx.load(str(files[ONNX_FILE])),
            name=MODEL_ARTIFACT,
            signature=signature,
            extra_files=[str(files[SCALER_FILE]), str(files[META_FILE])],
            save_as_external_data=False,
            # Stated, not inferred: inference imports the whole process in a subprocess (seconds).
            pip_requirements=_serving_requirements(),
        )
        # MLflow 3 keeps logged models apart from run artifacts: remember where it went.
        mlflow.set_tag(MODEL_URI_TAG, model_info.model_uri)
        return run.info.run_id


def fetch_bundle(settings: Settings, run_id: str):
    """The model logged by run `run_id`, verified, from `$SENSEX_HOME/cache/models/{run_id}`;
    fetched from MLflow on first use. A cached copy that fails its checks (checksum, unreadable
    files) is fetched again once; a model that fails again is refused with a sentence."""
    from sensex.core.errors import CorruptModelError, ModelNotFoundError
    from sensex.models.bundle import load_bundle

    target = settings.cache_dir / "models" / run_id
    if target.is_dir():
        try:
            return load_bundle(target)
        except ModelNotFoundError as exc:  # CorruptModelError included: drop the copy, fetch anew
            log.warning("Cached model %s failed its checks (%s): fetching it again.", run_id, exc)
            shutil.rmtree(target, ignore_errors=True)
    _download_model(settings, run_id, target)
    try:
        return load_bundle(target)
    except ModelNotFoundError as exc:
        shutil.rmtree(target, ignore_errors=True)
        raise CorruptModelError(f"The model of run {run_id} fails its checks as stored in MLflow ({exc}) :"
                                " retrain with `sensex train` and register the new run.") from exc


def _download_model(settings: Settings, run_id: str, target: Path) -> None:
    """Download into a temporary sibling, then rename: a killed download never looks complete."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from sensex.core.errors import ModelNotFoundError

    configure(settings)
    try:
        model_uri = mlflow.get_run(run_id).data.tags.get(MODEL_URI_TAG)
    except MlflowException as exc:
        raise ModelNotFoundError(f"Run {run_id} does not exist in the tracking store: pick a run from `sensex train`.") from exc
    if not model_uri:
        raise ModelNotFoundError(f"Run {run_id} logged no model: pick a run from `sensex train`.")
    target.parent.mkdir(parents=True, exist_ok=True)
    # Named after this process: `sensex registry doctor` removes what a killed download left.
    staging = Path(tempfile.mkdtemp(prefix=f".{owned_prefix(run_id)}", dir=target.parent))
    try:
        relocated = _relocated_source(settings, model_uri)
        if relocated is not None:
            shutil.copytree(relocated, staging, dirs_exist_ok=True)
        else:
            mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=str(staging))
        # download_artifacts puts the model's files directly under dst_path.
        try:
            os.replace(staging, target)
        except OSError:
            if not target.is_dir():
                raise
            # Another process fetched the same model first: keep its copy.
    except MlflowException as exc:
        raise ModelNotFoundError(f"The model of run {run_id} cannot be downloaded ({str(exc)[:160]}): check the tracking server.") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _relocated_source(settings: Settings, model_uri: str) -> Path | None:
    """The model's files in this home when the home's own database records them elsewhere.

    MLflow stores absolute artifact paths (`file:///old/home/mlartifacts/...`). In a moved or
    copied home those name the old place: fetching from there would fail (moved) or, worse,
    silently read the original home's files (copied). So with the home's own database, a
    location outside this home is mapped to the same path under this home's `mlartifacts`; when
    it is not there either, the model is refused with a sentence. Returns None when MLflow's own
    download is right (a tracking server, or a location inside this home)."""
    from urllib.parse import unquote, urlparse

    import mlflow

    from sensex.core.errors import ModelNotFoundError

    if settings.tracking_uri != f"sqlite:///{settings.home / 'mlflow.db'}" or not model_uri.startswith("models:/m-"):
        return None
    location = mlflow.MlflowClient().get_logged_model(model_uri.removeprefix("models:/")).artifact_location
    if not location.startswith("file:"):
        return None
    recorded = Path(unquote(urlparse(location).path))
    if recorded.is_relative_to(settings.home):
        return None
    parts = recorded.parts
    if "mlartifacts" in parts:
        local = settings.artifacts_dir.joinpath(*parts[len(parts) - parts[::-1].index("mlartifacts"):])
        if local.is_dir():
            log.info("Model files recorded at %s are read from this home's copy %s.", recorded, local)
            return local
    raise ModelNotFoundError(f"The model {model_uri} is recorded at {recorded}, outside SENSEX_HOME (a moved or copied"
                             f" home), and {settings.artifacts_dir} lacks it: copy the whole original home, or retrain.")


def log_walk_forward_run(settings: Settings, config, summary: dict, data_info: dict) -> str:
    """A walk-forward evaluation as its own run: pooled metrics of the model and the baselines."""
    import mlflow

    experiment_id = configure(settings)
    name = run_name(data_info.get("universe") or "sensex", summary.get("mode", "close"), summary["model"], config.name,
                    "walk-forward")
    with mlflow.start_run(experiment_id=experiment_id, run_name=name, tags=current_owner().tags()) as run:
        mlflow.log_params({**config.flat(), "model.kind": summary["model"], "walk_forward.start": summary["start"],
                           "walk_forward.end": summary["end"], "walk_forward.refit_months": summary["refit_months"],
                           **{f"data.{k}": v for k, v in data_info.items()}})
        metrics = {f"wf_{k}": v for k, v in summary["metrics"].items()}
        for name, values in summary["baselines"].items():
            metrics.update({f"baseline_{name}_wf_{k}": v for k, v in values.items()})
        metrics.update(range_metrics(summary.get("range"), "range_wf"))
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v == v})
        mlflow.set_tags({"evaluation": "walk-forward", "model_kind": summary["model"], "git_commit": git_commit() or "unknown",
                         "data_source": data_info.get("source", "unknown"), "data_hash": data_info.get("content_hash", "")})
        mlflow.log_dict(summary, "walk_forward.json")
        return run.info.run_id
