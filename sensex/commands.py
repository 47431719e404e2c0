"""The application's commands: one library function per CLI command (and the API and app reuse them)."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from sensex import store
from sensex.config import load_config
from sensex.errors import DataError, ModelNotFoundError
from sensex.settings import Settings
from sensex.universe import load_universe

log = logging.getLogger(__name__)


def data_status(settings: Settings, universe_path: str | None = None) -> dict:
    from sensex import quality

    frame = store.read(settings.store_dir)
    meta = store.read_meta(settings.store_dir) or {}
    report = quality.validate_data_quality(frame, load_universe(universe_path), source=meta.get("source"))
    report["store"] = {k: meta.get(k) for k in ("source", "fetched_at", "rows", "first_date", "last_date", "content_hash")}
    report["synthetic"] = meta.get("source") == "synthetic"
    return report


def data_info(settings: Settings) -> dict:
    meta = store.read_meta(settings.store_dir) or {}
    return {k: meta.get(k) for k in ("source", "content_hash", "first_date", "last_date", "rows")}


def train(settings: Settings, preset: str = "quick", model: str = "convlstm",
          train_end: str | None = None, valid_end: str | None = None, test_end: str | None = None,
          universe_path: str | None = None) -> dict:
    """Train, evaluate and log one run to MLflow (it is registered by `registry setup`)."""
    from sensex import quality, tracking
    from sensex.models.train import train_model  # torch is imported here, not before

    config = load_config(preset).with_segments(train_end=train_end, valid_end=valid_end, test_end=test_end)
    universe = load_universe(universe_path)
    frame = store.read(settings.store_dir)
    missing = sorted(set(universe.all_symbols) - set(frame["symbol"].unique()))
    if len(missing) > len(universe.symbols) // 6:
        raise DataError(f"The store lacks {len(missing)} universe members ({', '.join(missing[:6])}...): run `sensex data update` for this universe.")
    frame = quality.repair(frame)
    info = data_info(settings)
    with tempfile.TemporaryDirectory() as tmp:
        report = train_model(frame, universe, config, Path(tmp) / "bundle", model, info)
        run_id = tracking.log_training_run(settings, config, report, info)
    evaluation = report["evaluation"]
    test = evaluation["model"]["test"]
    return {
        "run_id": run_id,
        "model": model,
        "preset": config.name,
        "data_source": info.get("source"),
        "synthetic": info.get("source") == "synthetic",
        "segments": report["segments"],
        "metrics": {f"test_{k}": test[k] for k in ("accuracy", "auc", "brier", "f1", "precision", "recall", "ece")}
        | {"test_n": test["n"], "test_up_share": test["up_share"]},
        "intervals": {f"test_{k}": v for k, v in test.get("intervals", {}).items()},
        "baselines": {name: {k: seg["test"][k] for k in ("accuracy", "auc", "brier")}
                      for name, seg in evaluation["baselines"].items()},
        "epochs_run": report["epochs_run"],
        "onnx_parity_max_abs": report["onnx_parity_max_abs"],
        "seconds": report["seconds"],
    }


def _bundle_for(settings: Settings, run_id: str | None, version: str | None):
    import mlflow

    from sensex import tracking
    from sensex.models.bundle import load_bundle
    from sensex.serving.model_registry import ModelRegistry

    tracking.configure(settings)
    registry = ModelRegistry(settings)
    if version:
        match = next((v for v in registry.list_all_versions() if v["version"] == str(version)), None)
        if match is None:
            raise ModelNotFoundError(f"Version {version} does not exist: see `sensex registry list`.")
        run_id = match["run_id"]
    if run_id is None:
        production = registry.get_production_model()
        if production is None:
            raise ModelNotFoundError("No production model: pass --run-id or run `sensex registry setup`.")
        run_id = production["run_id"]
    target = settings.cache_dir / "runs" / run_id
    if not (target / "bundle" / "model.json").is_file():
        try:
            mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="bundle", dst_path=str(target))
        except Exception as exc:
            raise ModelNotFoundError(f"Run {run_id} has no model bundle ({exc}): pick a run from `sensex train`.") from exc
    return run_id, load_bundle(target / "bundle")


def evaluate(settings: Settings, start: str, end: str, run_id: str | None = None,
             version: str | None = None) -> dict:
    """Score a trained model on any stored range, beside baselines fit on its training segment."""
    from sensex import quality
    from sensex.features.build import build_panel
    from sensex.features.windows import make_windows, model_input
    from sensex.models.baselines import baseline_predictions
    from sensex.models.evaluate import bootstrap_intervals, classification_metrics

    run_id, bundle = _bundle_for(settings, run_id, version)
    universe = load_universe()
    frame = quality.repair(store.read(settings.store_dir))
    panel = build_panel(frame, universe)
    tensor = model_input(panel, bundle.scaler)
    positions = np.arange(len(panel.dates))
    in_range = (panel.dates >= pd.Timestamp(start)) & (panel.dates <= pd.Timestamp(end))
    rows = positions[in_range & np.isfinite(panel.label) & (positions >= bundle.window - 1)]
    if len(rows) < 10:
        raise DataError(f"Only {len(rows)} labelled sessions between {start} and {end}: choose a longer range.")
    train_start, train_end = bundle.meta["segments"]["train"]
    train_rows = positions[(panel.dates >= pd.Timestamp(train_start)) & (panel.dates <= pd.Timestamp(train_end)) & np.isfinite(panel.label)]
    overlap = int(((panel.dates[rows] >= pd.Timestamp(train_start)) & (panel.dates[rows] <= pd.Timestamp(train_end))).sum())
    probabilities = np.concatenate([bundle.probabilities(make_windows(tensor, chunk, bundle.window))
                                    for chunk in np.array_split(rows, max(1, len(rows) // 256))])
    y = panel.label[rows]
    report = classification_metrics(y, probabilities)
    baselines = baseline_predictions(panel, train_rows, {"eval": rows})
    return {
        "run_id": run_id, "start": str(panel.dates[rows[0]].date()), "end": str(panel.dates[rows[-1]].date()),
        "n": int(len(rows)),
        "overlaps_training_rows": overlap,
        "metrics": {k: report[k] for k in ("accuracy", "auc", "brier", "f1", "precision", "recall", "ece", "up_share")},
        "intervals": bootstrap_intervals(y, probabilities),
        "baselines": {name: {k: v for k, v in classification_metrics(y, *seg["eval"]).items() if k in ("accuracy", "auc", "brier")}
                      for name, seg in baselines.items()},
        "data_source": data_info(settings).get("source"),
    }


def drift(settings: Settings, start: str | None = None, end: str | None = None, min_sessions: int = 20) -> dict:
    """Score the production model on sessions it has not seen (by default: after its test window)
    and compare with its test metrics."""
    from sensex.serving.model_registry import ModelRegistry

    registry = ModelRegistry(settings)
    production = registry.require_production_model()
    run_id, bundle = _bundle_for(settings, production["run_id"], None)
    test_end = pd.Timestamp(bundle.meta["segments"]["test"][1])
    start = start or str((test_end + pd.Timedelta(days=1)).date())
    end = end or (store.read_meta(settings.store_dir) or {}).get("last_date") or start
    advice = (f"drift needs {min_sessions} labelled sessions not seen in training (the model's test window ends"
              f" {test_end.date()}): wait for new data or pass --start/--end.")
    try:
        current = evaluate(settings, start, end, run_id=run_id)
    except DataError as exc:
        raise DataError(f"Too few sessions from {start} to {end}: {advice}") from exc
    if current["n"] < min_sessions:
        raise DataError(f"Only {current['n']} sessions from {start} to {end}: {advice}")
    return registry.evaluate_model_drift(current["metrics"]) | {
        "window": [current["start"], current["end"]], "n": current["n"], "baselines": current["baselines"],
    }


def walk_forward(settings: Settings, start: str, end: str, preset: str = "walkforward", model: str = "convlstm",
                 refit_months: int | None = None, universe_path: str | None = None) -> dict:
    """Whole-history estimate: refit every N months on everything before a block, predict the block.
    Logged to MLflow as its own run (tag evaluation=walk-forward); nothing is registered."""
    from sensex import quality, tracking
    from sensex.features.build import build_panel
    from sensex.models.walkforward import walk_forward as run_walk_forward  # imports torch

    config = load_config(preset)
    universe = load_universe(universe_path)
    panel = build_panel(quality.repair(store.read(settings.store_dir)), universe)
    result = run_walk_forward(panel, config, start, end, kinds=(model,), refit_months=refit_months)
    summary_keys = ("accuracy", "auc", "brier", "ece", "f1", "precision", "recall")
    pooled = result["pooled"]
    info = data_info(settings)
    out = {
        "model": model, "preset": config.name, "start": result["start"], "end": result["end"],
        "refit_months": result["refit_months"], "n": int(len(result["predictions"]["label"])),
        "data_source": info.get("source"), "synthetic": info.get("source") == "synthetic",
        "metrics": {k: pooled[model][k] for k in summary_keys} | {"up_share": pooled[model]["up_share"]},
        "intervals": pooled[model].get("intervals", {}),
        "baselines": {name: {k: r[k] for k in ("accuracy", "auc", "brier")} for name, r in pooled.items() if name != model},
        "blocks": [{"block": b["block"], "n": b["n"], "auc": {k: m["auc"] for k, m in b["metrics"].items()}}
                   for b in result["blocks"]],
        "seconds": result["seconds"],
    }
    out["run_id"] = tracking.log_walk_forward_run(settings, config, out, info)
    return out
