"""The application's commands: one library function per CLI command (and the API and app reuse them)."""

from __future__ import annotations

import dataclasses
import logging
import tempfile
import time
from pathlib import Path

import pandas as pd

from sensex.core.errors import ConfigError, DataError
from sensex.core.settings import Settings
from sensex.data import status, store
from sensex.market.modes import DEFAULT_MODE, check_mode
from sensex.market.universe import load_universe
from sensex.models.config import load_config

log = logging.getLogger(__name__)


def data_status(settings: Settings, universe_path: str | None = None) -> dict:
    return status.data_status(settings, load_universe(universe_path or settings.universe))


def check_stored(frame: pd.DataFrame, universe) -> None:
    """A DataError naming what to run when the store lacks the universe's index or too many of its
    members (a few absent members are masked, as in real data; a sixth or more is another universe)."""
    stored = set(frame["symbol"].unique())
    flag = "" if universe.is_default else f" --universe {universe.key}"
    if universe.index_symbol not in stored:
        raise DataError(f"The store has no {universe.index_symbol} index rows for the {universe.name} universe:"
                        f" run `sensex data update{flag}` first.")
    missing = [s for s in universe.symbols if s not in stored]
    if len(missing) > len(universe.symbols) // 6:
        raise DataError(f"The store lacks {len(missing)} universe members of {universe.name}'s {len(universe.symbols)}"
                        f" ({', '.join(missing[:6])}{'...' if len(missing) > 6 else ''}): run `sensex data update{flag}` first.")


def data_info(settings: Settings) -> dict:
    """The data fingerprint a model records: where the prices came from and which ones."""
    meta = store.read_meta(settings.store_dir) or {}
    return {k: meta.get(k) for k in ("source", "synthetic", "content_hash", "first_date", "last_date", "rows")}


def train(settings: Settings, preset: str = "quick", model: str = "convlstm",
          train_end: str | None = None, valid_end: str | None = None, test_end: str | None = None,
          universe_path: str | None = None, mode: str = DEFAULT_MODE, progress=None, trigger: str = "manual") -> dict:
    """Train, evaluate and log one run to MLflow (it is registered by `registry setup --mode M`).
    `progress(description, done, total)` hears each stage and epoch (see `models.train.Progress`);
    `trigger` names who asked for it in the run's name (manual, daily, ...)."""
    started = time.time()
    from sensex.models import cluster

    cluster.check_tracking(settings.tracking_uri)  # before torch is imported: refused in a second
    from sensex.features.dataset import prepare, repair
    from sensex.features.ranges import range_data
    from sensex.models.train import train_model  # torch is imported here, not before
    from sensex.registry import tracking

    config = load_config(preset).with_segments(train_end=train_end, valid_end=valid_end, test_end=test_end)
    universe = load_universe(universe_path or settings.universe)
    settings = settings.model_copy(update={"universe": universe_path or settings.universe})
    frame = store.read(settings.store_dir)
    check_stored(frame, universe)
    if progress is not None:
        progress("Building features", None, None)
    panel = prepare(frame, universe, check_mode(mode))
    # The range forecast reads the same repaired rows as the panel (`features.ranges`).
    range_started = time.perf_counter()
    ranges = range_data(repair(frame, universe.index_symbol), panel) if config.model.range_forecast else None
    range_data_seconds = time.perf_counter() - range_started
    info = data_info(settings) | {"universe": universe.key}
    with tempfile.TemporaryDirectory() as tmp:
        report = train_model(panel, config, Path(tmp) / "bundle", model, info, progress,
                             sectors=[universe.sector_of(symbol) for symbol in panel.symbols], ranges=ranges)
        if report.range_seconds is not None:  # the range part's cost includes building its data
            report.range_seconds = round(report.range_seconds + range_data_seconds, 2)
        if progress is not None:
            progress("Logging the run to MLflow", None, None)
        run_id = tracking.log_training_run(settings, config, report, info, started_at=started, trigger=trigger)
    return _trained(report, run_id, universe.key, model, panel.mode, config.name, info)


def train_many(settings: Settings, preset: str = "quick", model: str = "convlstm", universes: list[str] | None = None,
               modes: list[str] | None = None, train_end: str | None = None, valid_end: str | None = None,
               test_end: str | None = None, progress=None, trigger: str = "manual") -> dict:
    """Several models at once, one per universe and mode (`sensex train --universe sensex,nifty50
    --mode close,preopen`): each a Ray task of one CPU at one torch thread (with `train.workers`
    > 1 or a cluster; else one after the other here), each logged here as its own MLflow run as
    it comes back, to be registered by `registry setup --universe U --mode M` under its own
    registered model. The store is read once, here: the tasks get its rows, not its path."""
    started = time.time()
    from sensex.models import cluster

    cluster.check_tracking(settings.tracking_uri)
    from sensex.market.modes import registered_model
    from sensex.models.train import in_task  # imports torch
    from sensex.registry import tracking

    config = load_config(preset).with_segments(train_end=train_end, valid_end=valid_end, test_end=test_end)
    chosen = [load_universe(spec) for spec in dict.fromkeys(universes or [settings.universe])]
    modes = [check_mode(mode) for mode in dict.fromkeys(modes or [DEFAULT_MODE])]
    frame = store.read(settings.store_dir)
    for universe in chosen:
        check_stored(frame, universe)
    info = data_info(settings)
    jobs = [(universe, mode) for universe in chosen for mode in modes]
    workers = config.train.workers
    fanned = cluster.parallel(workers, len(jobs))
    where = cluster.start(workers) if fanned else "this process"
    task_config = in_task(config) if fanned else config
    if progress is not None:
        progress(f"Training {len(jobs)} {model} models on {where}", None, None)
    calls = [(frame, universe, mode, task_config, model, info | {"universe": universe.key}) for universe, mode in jobs]
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        results = cluster.fan_out(_fit_model, calls, workers)
        for (universe, mode), (report, files) in zip(jobs, results, strict=True):
            folder = Path(tmp) / f"{universe.key}-{mode}"
            for name, content in files.items():
                (folder / name).parent.mkdir(parents=True, exist_ok=True)
                (folder / name).write_bytes(content)
            report = dataclasses.replace(report, bundle_dir=folder / report.bundle_dir.name,
                                         weights_file=folder / report.weights_file.name)
            own = settings.model_copy(update={"universe": universe.spec})
            model_info = info | {"universe": universe.key}
            run_id = tracking.log_training_run(own, task_config, report, model_info, started_at=started, trigger=trigger)
            if progress is not None:
                progress(f"Logged {universe.key} {mode} as run {run_id}", None, None)
            runs.append(_trained(report, run_id, universe.key, model, mode, config.name, model_info)
                        | {"registered_model": registered_model(mode, universe.key), "universe_spec": universe.spec})
    return {"model": model, "preset": config.name, "where": where, "seconds": round(time.time() - started, 1),
            "data_source": info.get("source"), "synthetic": bool(info.get("synthetic")), "runs": runs}


def _fit_model(frame: pd.DataFrame, universe, mode: str, config, model: str, info: dict):
    """One model of `train_many`, wherever it runs: the panel from the rows, `train_model`, and
    its bundle's files as bytes (the caller logs them; this node's disk is not theirs)."""
    from sensex.features.dataset import prepare, repair
    from sensex.features.ranges import range_data
    from sensex.models.train import train_model

    panel = prepare(frame, universe, mode)
    ranges = range_data(repair(frame, universe.index_symbol), panel) if config.model.range_forecast else None
    with tempfile.TemporaryDirectory() as tmp:
        report = train_model(panel, config, Path(tmp) / "bundle", model, info,
                             sectors=[universe.sector_of(symbol) for symbol in panel.symbols], ranges=ranges)
        files = {path.relative_to(tmp).as_posix(): path.read_bytes() for path in Path(tmp).rglob("*") if path.is_file()}
    return report, files


def _trained(report, run_id: str, universe_key: str, model: str, mode: str, preset_name: str, info: dict) -> dict:
    """What `train` returns about one trained and logged model."""
    test = report.test_summary()
    after_open = report.evaluation["after_open"]
    return {
        "run_id": run_id,
        "universe": universe_key,
        "model": model,
        "mode": mode,
        "preset": preset_name,
        "data_source": info.get("source"),
        "synthetic": bool(info.get("synthetic")),
        "segments": report.segments,
        "metrics": {f"test_{k}": test[k] for k in ("accuracy", "auc", "brier", "f1", "precision", "recall", "ece")}
        | {"test_n": test["n"], "test_up_share": test["up_share"]},
        "intervals": {f"test_{k}": v for k, v in test.get("intervals", {}).items()},
        "baselines": {name: {k: seg["test"][k] for k in ("accuracy", "auc", "brier")}
                      for name, seg in report.evaluation["baselines"].items()},
        # The same test probabilities scored against close > open of the target session.
        "metrics_after_open": {k: report.test_after_open()[k] for k in ("accuracy", "auc", "brier", "n", "up_share")},
        "baselines_after_open": {name: {k: seg["test"][k] for k in ("accuracy", "auc", "brier")}
                                 for name, seg in after_open["baselines"].items()},
        "epochs_run": report.epochs_run,
        "onnx_parity_max_abs": report.onnx_parity_max_abs,
        "seconds": report.seconds,
        # The interval's test coverage, the skill verdict, the ensemble's rule.
        "uncertainty": {k: v for k, v in (report.uncertainty or {}).items() if k != "fallback"},
        "ensemble": _ensemble_summary(report),
        # The served member forecasts on the test window beside the member baselines.
        "members": _members_summary(report),
        # The next-session range forecast on the test window beside HAR, EWMA, GARCH, ... (null when off).
        "range": _range_summary(report),
    }


def _range_summary(report) -> dict | None:
    """The range forecast's test record, and its cost in seconds (building its data, fitting, scoring)."""
    from sensex.models.range_fit import summary

    out = summary(report.evaluation.get("range"))
    if out is None:
        return {"skipped": report.range_note} if report.range_note else None
    return {**out, "seconds": report.range_seconds}


def _members_summary(report) -> dict | None:
    members = report.evaluation.get("members")
    if not members:
        return None
    keys = ("auc_pooled", "auc_member_median", "members_above_half", "ic_mean", "ic_t", "ic_interval", "sector_auc_pooled")
    return {"source": members["source"],
            "validation": {k: v["auc_pooled"] for k, v in members["selection"].items() if isinstance(v, dict)},
            "test": {k: members["model"][k] for k in (*keys, "brier", "accuracy")},
            "baselines": {name: {k: scored[k] for k in keys} for name, scored in members["baselines"].items()},
            "range": members.get("range")}  # the members' range forecast on test: coverage, QLIKE


def _ensemble_summary(report) -> dict | None:
    if not report.ensemble:
        return None
    seeds = report.evaluation.get("seeds", {})
    return {**report.ensemble, "seed_epochs": report.seed_epochs,
            "seed_test": {name: {k: seg["test"][k] for k in ("auc", "brier")} for name, seg in seeds.items()}}


def evaluate(settings: Settings, start: str, end: str, run_id: str | None = None,
             version: str | None = None, mode: str = DEFAULT_MODE) -> dict:
    """Score a trained model of `mode` on any stored range, beside baselines fit on its training
    segment (for `preopen` also the S&P 500 rule), on the close-to-close label and after the open;
    and its range forecast beside HAR, EWMA, GARCH, ... (`range`: the saved records re-applied,
    nothing refit; null for a model without one or a range with fewer than 10 scorable sessions)."""
    from sensex.features.dataset import load_range
    from sensex.models.evaluate import score
    from sensex.models.range_fit import score_between
    from sensex.models.range_portable import has_range
    from sensex.serving import ModelRegistry

    mode = check_mode(mode)
    info, bundle = ModelRegistry(settings, mode=mode).load(version=version, run_id=run_id)
    if bundle.meta.mode != mode:
        raise ConfigError(f"Run {info['run_id']} is a {bundle.meta.mode} model: pass --mode {bundle.meta.mode}.")
    panel, ranges = load_range(settings, load_universe(settings.universe), mode=mode)
    result = score(bundle, panel, start, end)
    scored_range = score_between(bundle.meta.range, ranges, start, end) if has_range(bundle.meta) else None
    return {"run_id": info["run_id"], "version": info.get("version"), **result.to_dict(),
            "data_source": data_info(settings).get("source"), "range": scored_range}


def walk_forward(settings: Settings, start: str, end: str, preset: str = "walkforward", model: str = "convlstm",
                 refit_months: int | None = None, universe_path: str | None = None, mode: str = DEFAULT_MODE) -> dict:
    """Whole-history estimate: refit every N months on everything before a block, predict the block.
    Logged to MLflow as its own run (tag evaluation=walk-forward); nothing is registered."""
    from sensex.backtest.forecasts import store_walk_forward
    from sensex.features.dataset import load_range
    from sensex.models import cluster, range_fit
    from sensex.models.walkforward import walk_forward as run_walk_forward  # imports torch
    from sensex.models.walkforward import walk_forward_folds
    from sensex.registry import tracking

    cluster.check_tracking(settings.tracking_uri)
    config = load_config(preset)
    universe = load_universe(universe_path or settings.universe)
    panel, ranges = load_range(settings, universe, mode=check_mode(mode))
    result = run_walk_forward(panel, config, start, end, kinds=(model,), refit_months=refit_months)
    # The range forecast refit on the same folds (train and validate before each block, test the block).
    range_result = (range_fit.walk_forward(ranges, walk_forward_folds(panel, config, start, end, refit_months),
                                           seed=config.train.seed) if config.model.range_forecast else None)
    expected_move = range_result.pop("expected_move") if range_result else None  # stored, not printed
    summary_keys = ("accuracy", "auc", "brier", "ece", "f1", "precision", "recall")
    pooled = result["pooled"]
    info = data_info(settings)
    out = {
        "model": model, "mode": panel.mode, "preset": config.name, "start": result["start"], "end": result["end"],
        "refit_months": result["refit_months"], "n": int(len(result["predictions"]["label"])),
        "data_source": info.get("source"), "synthetic": bool(info.get("synthetic")),
        "metrics": {k: pooled[model][k] for k in summary_keys} | {"up_share": pooled[model]["up_share"]},
        "intervals": pooled[model].get("intervals", {}),
        "baselines": {name: {k: r[k] for k in ("accuracy", "auc", "brier")} for name, r in pooled.items() if name != model},
        "blocks": [{"block": b["block"], "n": b["n"], "auc": {k: m["auc"] for k, m in b["metrics"].items()}}
                   for b in result["blocks"]],
        "seconds": result["seconds"],
        "range": range_result,
    }
    out["run_id"] = tracking.log_walk_forward_run(settings, config, out, info)
    # Each session's out-of-sample P(UP), no-call flag, fold and expected move, for `sensex backtest --walk-forward`.
    out["forecasts_file"] = str(store_walk_forward(settings, universe.key, panel.dates, result, out, info,
                                                   expected_move))
    return out
