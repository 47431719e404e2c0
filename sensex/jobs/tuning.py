"""`sensex tune`: Ray Tune over a preset's hyper-parameters, scored on the validation window only.

The search: Optuna's TPE sampler (seeded; its first trial is the preset itself, so the search
starts from what is known to work) proposes the width (`model.hidden` = `model.projection`), the
window length, the learning rate, the dropout, the epochs cap and, for the ensemble, the number of
seeds, each around the preset's value; ASHA stops trials whose validation loss trails the others'
at the same epoch. Every trial is a Ray task of one CPU at one torch thread, on a local instance
or the cluster of RAY_ADDRESS (`sensex.models.cluster`).

What a trial sees ends at the last validation session: the panel is cut there before any trial
starts, so the test window is never read (a test flips its labels and scrambles its features and
gets the same trials). Trials learn on the training windows, stop early on the validation loss,
and are scored by the cross-fitted validation log-loss of their calibrated P(UP) (the ensemble's:
of its combined P(UP)), each validation row predicted by a calibration fit without it, as the
conformal interval is (`models.uncertainty.cross_fitted`).

Each trial is an MLflow child run under one parent run (Ray Tune's `MLflowLoggerCallback`); the
best configuration is written as a preset file (`sensex train --preset tuned.yaml`) whose comments
keep the search's record.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from sensex.core.errors import ConfigError, DataError
from sensex.core.settings import Settings
from sensex.features.build import Panel
from sensex.market.modes import DEFAULT_MODE, check_mode
from sensex.market.universe import load_universe
from sensex.models.config import Config, config_from_dict, load_config
from sensex.models.segments import MIN_TRAIN_WINDOWS, Segments, labelled_ends, split_segments

log = logging.getLogger(__name__)

PARAMETERS = ("width", "window", "learning_rate", "dropout", "epochs", "ensemble_seeds")
SCORE = "valid_log_loss"  # what picks the best trial: cross-fitted, lower is better
STEP = "valid_loss"  # what ASHA compares after each epoch: the network's validation loss
REDUCTION = 2  # ASHA keeps the better half at each rung


def until(panel: Panel, last: int) -> Panel:
    """The panel cut after row `last`: every per-session array (and frame) keeps rows 0..last."""
    sessions, kept = len(panel.dates), last + 1

    def cut(value):
        if isinstance(value, np.ndarray | pd.Index) and len(value) == sessions:
            return value[:kept]
        if isinstance(value, pd.DataFrame) and len(value) == sessions:
            return value.iloc[:kept]
        return value

    return dataclasses.replace(panel, **{f.name: cut(getattr(panel, f.name)) for f in dataclasses.fields(panel)})


@dataclasses.dataclass(frozen=True)
class Window:
    """The validation window every trial is scored on: its first and last sessions, and the end of
    the training window before it."""

    train_end: pd.Timestamp
    valid_start: pd.Timestamp
    valid_end: pd.Timestamp
    n: int


def trial_segments(panel: Panel, config: Config, window: Window) -> Segments:
    """A trial's training and validation windows (its window length decides the first training
    window); no test rows: the panel a trial gets has none."""
    ends = labelled_ends(panel, config.features.window)
    dates = panel.dates[ends]
    train = ends[dates <= window.train_end]
    if config.train.max_train_windows:
        train = train[-config.train.max_train_windows:]
    valid = ends[(dates > window.train_end) & (dates <= window.valid_end)]
    return Segments(train=train, valid=valid, test=np.array([], dtype=np.int64))


def preset_point(config: Config, model: str) -> dict:
    """The preset's own values of the searched parameters."""
    point = {"width": config.model.hidden, "window": config.features.window,
             "learning_rate": config.train.learning_rate, "dropout": config.model.dropout,
             "epochs": config.train.epochs}
    if model == "ensemble":
        point["ensemble_seeds"] = config.model.ensemble_seeds
    return point


def applied(config: Config, params: dict, name: str | None = None) -> Config:
    """The config with a trial's parameters in place (validated like a preset)."""
    data = config.to_dict()
    data["model"] |= {"hidden": int(params["width"]), "projection": int(params["width"]),
                      "dropout": float(params["dropout"])}
    if "ensemble_seeds" in params:
        data["model"]["ensemble_seeds"] = int(params["ensemble_seeds"])
    data["features"] |= {"window": int(params["window"])}
    data["train"] |= {"learning_rate": float(params["learning_rate"]), "epochs": int(params["epochs"])}
    return config_from_dict({k: v for k, v in data.items() if k != "name"}, name or config.name, "Tuned parameters")


def choices(panel: Panel, config: Config, model: str, window: Window) -> dict[str, list]:
    """The candidate values around the preset's: widths 0.5-2x, windows 0.5-1.5x (those that leave
    enough training windows), epochs caps 0.5-2x, 1-5 seeds; learning rate and dropout are ranges."""
    base = preset_point(config, model)
    widths = sorted({max(4, round(base["width"] * f)) for f in (0.5, 1, 1.5, 2)})
    windows = []
    for length in sorted({max(5, round(base["window"] * f)) for f in (0.5, 0.75, 1, 1.5)}):
        segments = trial_segments(panel, applied(config, base | {"window": length}), window)
        if length == base["window"] or (len(segments.train) >= MIN_TRAIN_WINDOWS and len(segments.valid) == window.n):
            windows.append(length)
    epochs = sorted({max(2, base["epochs"] // 2), base["epochs"], base["epochs"] * 2})
    out = {"width": widths, "window": windows, "epochs": epochs,
           "learning_rate": [base["learning_rate"] / 4, base["learning_rate"] * 4], "dropout": [0.0, 0.5]}
    if model == "ensemble":
        out["ensemble_seeds"] = sorted({1, 2, 3, 5, base["ensemble_seeds"]})
    return out


def _log_loss(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def score_config(panel: Panel, config: Config, model: str, window: Window, on_epoch=None) -> dict:
    """Fit `model` with `config` on the training windows and score it on the validation window:
    cross-fitted log-loss and AUC of its calibrated (ensemble: combined) P(UP)."""
    from sensex.models.baselines import fit_baselines
    from sensex.models.calibrate import apply_calibration, fit_platt, shift_probabilities
    from sensex.models.ensemble import fit_combiner
    from sensex.models.evaluate import roc_auc
    from sensex.models.train import ENSEMBLE, baseline_logits, fit_fold, long_run_prior
    from sensex.models.uncertainty import cross_fitted

    started = time.perf_counter()
    segments = trial_segments(panel, config, window)
    if len(segments.train) < MIN_TRAIN_WINDOWS or len(segments.valid) < 20:
        raise DataError(f"Too little history for a {config.features.window}-session window: {len(segments.train)}"
                        f" training windows before {window.train_end.date()}.")
    kind = "convlstm" if model == ENSEMBLE else model
    fits = [fit_fold(panel, segments, config, kind, on_epoch=on_epoch)]
    y = panel.label[segments.valid]
    if model == ENSEMBLE:
        for k in range(1, config.model.ensemble_seeds):
            fits.append(fit_fold(panel, segments, config.with_train(seed=config.train.seed + k), "convlstm"))
        mean_logit = np.column_stack([f.logits(segments.valid) for f in fits]).mean(axis=1)
        inputs = np.column_stack([mean_logit, baseline_logits(fit_baselines(panel, segments.train), panel, segments.valid)])
        bounds = [str(panel.dates[segments.valid[0]].date()), str(panel.dates[segments.valid[-1]].date())]
        _, crossed = fit_combiner(inputs, y, *bounds, long_run_prior(panel, segments))
    else:
        first = fits[0]
        crossed = shift_probabilities(cross_fitted(fit_platt, apply_calibration, first.logits(segments.valid), y),
                                      first.calibration.prior_offset)
    history = fits[0].history
    return {SCORE: _log_loss(y, crossed), "valid_auc": float(roc_auc(y, crossed)), "epochs_run": len(history),
            STEP: float(min(row["valid_loss"] for row in history)), "seconds": round(time.perf_counter() - started, 2)}


def _trial(params: dict, panel: Panel, base: Config, model: str, window: Window) -> None:
    """One Ray Tune trial: reports the validation loss after each epoch (ASHA may stop it there),
    then its score."""
    from ray import tune

    from sensex.models.train import in_task

    config = in_task(applied(base, params))

    def report(row: dict) -> None:
        tune.report({"epoch": row["epoch"] + 1, STEP: row["valid_loss"]})

    scored = score_config(panel, config, model, window, on_epoch=report)
    tune.report({"epoch": scored["epochs_run"], **scored})


def _quietly(fit):
    """Ray Tune's run with its console report off (the command prints its own table; stdout holds
    only `--json`'s object) and Optuna's study messages below warnings."""
    import contextlib
    import os
    import sys

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    before = os.environ.get("RAY_AIR_NEW_OUTPUT")
    os.environ["RAY_AIR_NEW_OUTPUT"] = "0"  # the older reporter, silent at verbose=0
    try:
        with contextlib.redirect_stdout(sys.stderr):
            return fit()
    finally:
        if before is None:
            os.environ.pop("RAY_AIR_NEW_OUTPUT", None)
        else:
            os.environ["RAY_AIR_NEW_OUTPUT"] = before


def _search_space(options: dict[str, list]) -> dict:
    from ray import tune

    space = {name: tune.choice(values) for name, values in options.items() if name not in ("learning_rate", "dropout")}
    space["learning_rate"] = tune.loguniform(*options["learning_rate"])
    space["dropout"] = tune.uniform(*options["dropout"])
    return space


def _describe(options: dict[str, list]) -> str:
    parts = []
    for name in PARAMETERS:
        if name not in options:
            continue
        values = options[name]
        if name == "learning_rate":
            parts.append(f"learning rate {values[0]:.2g}..{values[1]:.2g} (log-uniform)")
        elif name == "dropout":
            parts.append(f"dropout {values[0]:g}..{values[1]:g}")
        else:
            parts.append(f"{name.replace('_', ' ')} {'|'.join(str(v) for v in values)}")
    return ", ".join(parts)


def _row(number: int, result, point: dict) -> dict:
    metrics = result.metrics or {}
    params = {name: result.config[name] for name in PARAMETERS if name in result.config}
    row = {"trial": number, "params": params, "preset": params == point,
           SCORE: metrics.get(SCORE), "valid_auc": metrics.get("valid_auc"), "epochs_run": metrics.get("epoch")}
    if result.error is not None:
        row["status"] = f"failed: {str(result.error).strip().splitlines()[-1][:200]}"
    elif metrics.get(SCORE) is None:
        row["status"] = f"stopped by ASHA after epoch {metrics.get('epoch')} (validation loss {metrics.get(STEP, math.nan):.4f})"
    else:
        row["status"] = "complete"
    return row


def _format_params(params: dict) -> str:
    out = []
    for name in PARAMETERS:
        if name in params:
            value = params[name]
            out.append(f"{name}={value:.3g}" if isinstance(value, float) else f"{name}={value}")
    return " ".join(out)


def preset_text(config: Config, record: list[str]) -> str:
    """The tuned preset: the search's record as comments, then the whole config as YAML."""
    data = {k: v for k, v in config.to_dict().items() if k != "name"}
    return "".join(f"# {line}\n" for line in record) + f"name: {config.name}\n" + yaml.safe_dump(data, sort_keys=False)


def tune(settings: Settings, preset: str = "quick", model: str = "convlstm", mode: str = DEFAULT_MODE,
         universe_path: str | None = None, trials: int = 8, time_budget_minutes: float | None = None,
         output: str | Path = "tuned.yaml", seed: int | None = None, train_end: str | None = None,
         valid_end: str | None = None, test_end: str | None = None, concurrent: int | None = None,
         progress=None) -> dict:
    """Tune `preset` for `model` in `mode` on `universe`; write the best configuration to `output`.
    `concurrent` caps the trials run at once (default: the cluster's CPUs)."""
    from sensex.models import cluster

    cluster.check_tracking(settings.tracking_uri)
    from optuna.samplers import TPESampler
    from ray import tune as ray_tune
    from ray.air.integrations.mlflow import MLflowLoggerCallback
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.optuna import OptunaSearch

    from sensex.core.processes import current_owner
    from sensex.features.dataset import load_panel
    from sensex.models.train import MODEL_KINDS, check_usable
    from sensex.registry import tracking

    started = time.time()
    if model not in MODEL_KINDS:
        raise ConfigError(f"Unknown model {model!r}: use one of {', '.join(MODEL_KINDS)}.")
    if trials < 1:
        raise ConfigError(f"--trials must be at least 1, not {trials}.")
    if time_budget_minutes is not None and not time_budget_minutes > 0:
        raise ConfigError(f"--time-budget must be a positive number of minutes, not {time_budget_minutes}.")
    output = Path(output)
    if output.suffix not in (".yaml", ".yml"):
        raise ConfigError(f"--output {output} must end in .yaml: it is a preset file for `sensex train --preset`.")
    config = load_config(preset).with_segments(train_end=train_end, valid_end=valid_end, test_end=test_end)
    if seed is not None:
        config = config.with_train(seed=seed)
    universe = load_universe(universe_path or settings.universe)
    mode = check_mode(mode)
    if progress is not None:
        progress("Building features", None, None)
    panel = load_panel(settings, universe, mode=mode)
    check_usable(panel)
    segments = split_segments(panel, config)
    window = Window(panel.dates[segments.train[-1]], panel.dates[segments.valid[0]], panel.dates[segments.valid[-1]],
                    len(segments.valid))
    seen = until(panel, int(segments.valid[-1]))  # nothing after the validation window reaches a trial
    del panel
    options = choices(seen, config, model, window)
    point = preset_point(config, model)
    where = cluster.start()
    import ray

    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    at_once = max(1, min(concurrent or cpus, trials))

    experiment_id = tracking.configure(settings)
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=settings.tracking_uri)
    owner = current_owner().tags()
    parent = client.create_run(experiment_id, run_name=tracking.run_name(universe.key, mode, model, config.name, "tune"),
                               tags={**owner, "trigger": "manual", "evaluation": "tuning", tracking.MODE_TAG: mode,
                                     tracking.UNIVERSE_TAG: universe.key, "model_kind": model}).info.run_id
    status = "FAILED"
    try:
        client.log_param(parent, "search.space", _describe(options)[:6000])
        for key, value in {**config.flat(), "tune.trials": trials, "tune.model": model,
                           "tune.time_budget_minutes": time_budget_minutes}.items():
            client.log_param(parent, key, value)
        epochs = options["epochs"]
        scheduler = ASHAScheduler(time_attr="epoch", max_t=max(epochs) + 1, grace_period=max(1, min(epochs) - 1),
                                  reduction_factor=REDUCTION)
        sampler = TPESampler(seed=config.train.seed, n_startup_trials=min(10, max(2, trials // 2)))
        search = OptunaSearch(points_to_evaluate=[point], sampler=sampler)
        callback = MLflowLoggerCallback(tracking_uri=settings.tracking_uri, experiment_name=tracking.EXPERIMENT,
                                        tags={**owner, "mlflow.parentRunId": parent, "evaluation": "tuning-trial",
                                              tracking.MODE_TAG: mode, tracking.UNIVERSE_TAG: universe.key})
        trainable = ray_tune.with_resources(
            ray_tune.with_parameters(_trial, panel=seen, base=config, model=model, window=window), {"cpu": 1})
        if progress is not None:
            progress(f"Tuning: {trials} trials, {at_once} at a time on {where}", None, None)
        tuner = ray_tune.Tuner(
            trainable, param_space=_search_space(options),
            tune_config=ray_tune.TuneConfig(metric=STEP, mode="min", search_alg=search, scheduler=scheduler,
                                            num_samples=trials, max_concurrent_trials=at_once,
                                            trial_name_creator=lambda trial: f"trial-{trial.trial_id}",
                                            time_budget_s=time_budget_minutes * 60 if time_budget_minutes else None),
            run_config=ray_tune.RunConfig(name=f"tune-{parent[:12]}", storage_path=str(settings.home / "tmp" / "tune"),
                                          verbose=0, callbacks=[callback]))
        grid = _quietly(tuner.fit)
        rows = [_row(number, result, point) for number, result in enumerate(grid, start=1)]  # in the order proposed
        complete = [row for row in rows if row[SCORE] is not None]
        if not complete:
            raise DataError("No trial finished (each was stopped or failed; see the MLflow run's trials):"
                            " give more --trials or a longer --time-budget.")
        best = min(complete, key=lambda row: (row[SCORE], row["trial"]))
        preset_row = next((row for row in rows if row["preset"]), None)
        tuned = applied(config, best["params"], name=output.stem)
        seconds = round(time.time() - started, 1)
        record = _record(preset, model, mode, universe, trials, time_budget_minutes, parent, window, options, rows,
                         best, preset_row, at_once, config.train.seed, seconds)
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(preset_text(tuned, record), encoding="utf-8")
        load_config(output)  # what was written reads back as a preset
        client.log_artifact(parent, str(output))
        client.log_dict(parent, {"trials": rows, "best": best}, "tuning.json")
        client.log_metric(parent, f"best_{SCORE}", best[SCORE])
        client.log_metric(parent, "best_valid_auc", best["valid_auc"])
        if preset_row is not None and preset_row[SCORE] is not None:
            client.log_metric(parent, f"preset_{SCORE}", preset_row[SCORE])
        client.log_metric(parent, "tune_seconds", seconds)
        status = "FINISHED"
    finally:
        client.set_terminated(parent, status=status)
    return {"run_id": parent, "preset": config.name, "model": model, "mode": mode, "universe": universe.key,
            "where": where, "trials": rows, "best": best, "preset_trial": preset_row, "output": str(output),
            "validation": [str(window.valid_start.date()), str(window.valid_end.date())], "validation_n": window.n,
            "seconds": seconds}


def _record(preset: str, model: str, mode: str, universe, trials: int, budget: float | None, parent: str,
            window: Window, options: dict, rows: list[dict], best: dict, preset_row: dict | None, at_once: int,
            seed: int, seconds: float) -> list[str]:
    flags = f" --model {model} --mode {mode} --universe {universe.spec} --trials {trials}"
    flags += f" --time-budget {budget:g}" if budget else ""
    lines = [
        f"Tuned by `sensex tune --preset {preset}{flags}` on {date.today().isoformat()} in {seconds:.0f} s"
        f" (MLflow run {parent}, a child run per trial).",
        f"Search: Optuna TPE (seed {seed}), its first trial the preset itself; ASHA early stopping on the"
        f" validation loss per epoch (reduction factor {REDUCTION}); {at_once} trial(s) at a time.",
        f"Space: {_describe(options)}.",
        f"Scored on the validation window only, {window.valid_start.date()}..{window.valid_end.date()} (n={window.n}):"
        " cross-fitted log-loss of the calibrated P(UP) (lower is better), AUC beside it. The test window was never read.",
        "Trials:",
    ]
    for row in rows:
        score = "-" if row[SCORE] is None else f"log-loss {row[SCORE]:.4f}, AUC {row['valid_auc']:.3f}"
        lines.append(f"  {row['trial']}{' (the preset)' if row['preset'] else ''}: {_format_params(row['params'])}:"
                     f" {score}; {row['status']}")
    versus = ""
    if preset_row is not None and preset_row[SCORE] is not None:
        versus = f" against the preset's {preset_row[SCORE]:.4f}"
    lines.append(f"Best: trial {best['trial']}, validation log-loss {best[SCORE]:.4f}{versus}.")
    return lines
