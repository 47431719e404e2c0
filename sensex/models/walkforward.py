"""Walk-forward evaluation: refit every N months, predict the next block, pool the blocks.

For each block [block_start, block_start + N months): the fold's history is every labelled
window that ends before block_start. Its last `valid_sessions` windows validate (early stopping
and calibration), the ones before them train (capped at `max_train_windows`, most recent kept);
the scaler is fit on the training sessions alone. The block's rows are only ever predicted.
Every network kind and every baseline is scored on exactly the same rows.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sensex.core.errors import ConfigError, DataError
from sensex.features.build import Panel
from sensex.features.indicators import MAX_WARMUP
from sensex.models import cluster
from sensex.models.baselines import baseline_predictions, fit_baselines
from sensex.models.calibrate import apply_calibration, fit_platt, shift_probabilities
from sensex.models.config import Config
from sensex.models.evaluate import classification_metrics, report
from sensex.models.segments import MIN_TRAIN_WINDOWS, Segments, labelled_ends
from sensex.models.train import ENSEMBLE, check_usable, fit_ensemble, fit_fold, in_task
from sensex.models.uncertainty import conformal_half_width, cross_fitted, intervals, no_call

log = logging.getLogger(__name__)


@dataclass
class Fold:
    block_start: pd.Timestamp
    block_end: pd.Timestamp
    segments: Segments  # train and valid from before the block; test is the block itself


def walk_forward_folds(panel: Panel, config: Config, start: str, end: str, refit_months: int | None = None) -> list[Fold]:
    """The folds of a walk-forward over [start, end], one per `refit_months` block."""
    months = refit_months or config.train.refit_months
    if months < 1:
        raise ConfigError(f"refit_months must be at least 1, not {months}.")
    window, n_valid = config.features.window, config.train.valid_sessions
    first, last = pd.Timestamp(start), pd.Timestamp(end)
    if not first < last:
        raise ConfigError(f"Walk-forward start {start} must come before its end {end}.")
    ends = labelled_ends(panel, window)
    dates = panel.dates[ends]
    folds: list[Fold] = []
    block_start = first
    while block_start <= last:
        block_end = min(block_start + pd.DateOffset(months=months) - pd.Timedelta(days=1), last)
        test = ends[(dates >= block_start) & (dates <= block_end)]
        history = ends[dates < block_start]
        if len(test):
            cut = max(len(history) - n_valid, 0)
            train, valid = history[:cut], history[cut:]
            if config.train.max_train_windows:
                train = train[-config.train.max_train_windows :]
            if len(train) < MIN_TRAIN_WINDOWS or len(valid) < 20:
                sessions_before = int((panel.dates < block_start).sum())
                needed = window + MAX_WARMUP + MIN_TRAIN_WINDOWS + n_valid
                raise DataError(
                    f"Too little history for a walk-forward block starting {block_start.date()}: each fold"
                    f" needs about {needed} sessions before its block ({window}-session windows,"
                    f" {MAX_WARMUP} warm-up, {MIN_TRAIN_WINDOWS}+ training and {n_valid} validation windows);"
                    f" the store has {sessions_before}. Start the walk-forward later or store more history."
                )
            folds.append(Fold(block_start, block_end, Segments(train=train, valid=valid, test=test)))
        block_start = block_start + pd.DateOffset(months=months)
    if not folds:
        raise DataError(f"No labelled sessions between {start} and {end} to walk forward over.")
    return folds


def _weights_digest(network) -> str:
    digest = hashlib.sha256()
    for name, tensor in network.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().numpy().tobytes())
    return digest.hexdigest()[:16]


def _bounds(panel: Panel, rows: np.ndarray) -> list[str]:
    return [str(panel.dates[rows[0]].date()), str(panel.dates[rows[-1]].date())]


def _score_fold(panel: Panel, fold: Fold, config: Config, kinds: tuple[str, ...], baselines: bool
                ) -> tuple[dict, dict[str, tuple[np.ndarray, np.ndarray | None]], dict[str, float], dict[str, np.ndarray]]:
    """Fit every kind (and the baselines) on one fold and score its block: (block record,
    {name: (P(UP), decision)}, {name: fit seconds}, {kind: no-call flags}). Reads only the panel and
    the fold, so folds can run in any order, in any process. A kind's no-call flags come from its
    split-conformal interval calibrated on the fold's validation rows, as training records it
    (`models.train._uncertainty`) and serving applies it."""
    seg = fold.segments
    y = panel.label[seg.test]
    y_valid = panel.label[seg.valid]
    no_calls: dict[str, np.ndarray] = {}
    block: dict = {
        "block": [str(fold.block_start.date()), str(fold.block_end.date())],
        "rows": _bounds(panel, seg.test), "train": _bounds(panel, seg.train), "valid": _bounds(panel, seg.valid),
        "n": int(len(seg.test)), "up_share": float(y.mean()), "fits": {}, "metrics": {},
    }
    scored: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
    seconds: dict[str, float] = {}
    fitted_by_kind = {}
    for kind in kinds:
        if kind == ENSEMBLE:  # its first seed is the ConvLSTM of this fold when that was fit too
            ensemble = fit_ensemble(panel, seg, config, fit_baselines(panel, seg.train), fitted_by_kind.get("convlstm"))
            scored[kind] = (ensemble.probability["test"], None)
            seconds[kind] = ensemble.fit_seconds
            half_width = conformal_half_width(ensemble.valid_crossed, y_valid)
            no_calls[kind] = no_call(intervals(ensemble.probability["test"], half_width, ensemble.spread["test"]))
            block["fits"][kind] = {"combiner": ensemble.ensemble["combiner"], "seed_epochs": ensemble.seed_epochs,
                                   "conformal_half_width": half_width, "seconds": round(ensemble.fit_seconds, 2)}
            continue
        fitted = fitted_by_kind[kind] = fit_fold(panel, seg, config, kind)
        scored[kind] = (fitted.probabilities(seg.test), None)
        seconds[kind] = fitted.seconds
        crossed = shift_probabilities(cross_fitted(fit_platt, apply_calibration, fitted.logits(seg.valid), y_valid),
                                      fitted.calibration.prior_offset)
        half_width = conformal_half_width(crossed, y_valid)
        no_calls[kind] = no_call(intervals(scored[kind][0], half_width))
        block["fits"][kind] = {
            "scaler_fit": [fitted.scaler.fit_start, fitted.scaler.fit_end],
            "calibration": fitted.calibration.to_dict(),
            "epochs_run": len(fitted.history),
            "weights_sha256": _weights_digest(fitted.network),
            "conformal_half_width": half_width,
            "seconds": round(fitted.seconds, 2),
        }
    if baselines:
        timings: dict[str, float] = {}
        fitted_baselines = baseline_predictions(panel, seg.train, {"block": seg.test}, timings=timings)
        for name, by_segment in fitted_baselines.items():
            scored[name] = by_segment["block"]
            seconds[name] = timings[name]
    for name, (p, decision) in scored.items():
        block["metrics"][name] = classification_metrics(y, p, decision)
    return block, scored, seconds, no_calls


def _scored_folds(panel: Panel, folds: list[Fold], config: Config, kinds: tuple[str, ...], baselines: bool,
                  workers: int) -> Iterator[tuple[dict, dict, dict, dict]]:
    """`_score_fold` for each fold, in fold order. With `workers` > 1 (or a Ray cluster) each fold
    is a Ray task of one CPU at one torch thread (`in_task`, `cluster.fan_out`; a local instance
    of `workers` CPUs): on 2 cores two one-thread fits side by side get through about 1.4x the
    work of one two-thread fit, and every fit is seeded and deterministic, so the results are
    those of `workers=1, threads=1` on whichever node. With one fold the fold's own fits get the
    workers instead (the ensemble's seeds)."""
    if not cluster.parallel(workers, len(folds)):
        config = config.with_train(workers=workers)
        yield from _logged((_score_fold(panel, fold, config, kinds, baselines) for fold in folds), len(folds))
        return
    one = in_task(config)
    calls = [(panel, fold, one, kinds, baselines) for fold in folds]
    yield from _logged(cluster.fan_out(_score_fold, calls, workers), len(folds))


def _logged(results: Iterator[tuple[dict, dict, dict, dict]], total: int) -> Iterator[tuple[dict, dict, dict, dict]]:
    for number, result in enumerate(results):
        log.info("walk-forward block %d/%d %s..%s done", number + 1, total, *result[0]["block"])
        yield result


def walk_forward(
    panel: Panel, config: Config, start: str, end: str, kinds: tuple[str, ...] = ("convlstm",),
    refit_months: int | None = None, baselines: bool = True, workers: int | None = None,
) -> dict:
    """Refit and predict block by block; per-block metrics and pooled metrics with intervals.
    `workers` (default `train.workers`) > 1 runs the blocks as Ray tasks (`_scored_folds`).

    Returns {"blocks": [...], "pooled": {name: report}, "seconds": {name: s},
    "predictions": {"date": [...], "label": array, "fold": array, name: array, f"{kind}:no_call": array}}
    where name is each network kind and each baseline, fold the block number of each row and
    `{kind}:no_call` each network kind's no-call flags (what `sensex backtest` trades).
    """
    check_usable(panel)
    folds = walk_forward_folds(panel, config, start, end, refit_months)
    workers = config.train.workers if workers is None else workers
    names = list(kinds)
    labels, dates, fold_numbers = [], [], []
    predictions: dict[str, list[np.ndarray]] = {}
    seconds: dict[str, float] = {}
    blocks = []
    for number, (fold, (block, scored, fold_seconds, no_calls)) in enumerate(
            zip(folds, _scored_folds(panel, folds, config, kinds, baselines, workers), strict=True)):
        for name, (p, decision) in scored.items():
            if name not in names:
                names.append(name)
            seconds[name] = seconds.get(name, 0.0) + fold_seconds[name]
            predictions.setdefault(name, []).append(np.asarray(p, dtype=np.float64))
            if decision is not None:
                predictions.setdefault(f"{name}:decision", []).append(np.asarray(decision))
        for kind, flags in no_calls.items():
            predictions.setdefault(f"{kind}:no_call", []).append(np.asarray(flags, dtype=bool))
        labels.append(panel.label[fold.segments.test])
        fold_numbers.append(np.full(len(fold.segments.test), number, dtype=np.int64))
        dates.extend(str(d.date()) for d in panel.dates[fold.segments.test])
        blocks.append(block)

    y_all = np.concatenate(labels)
    pooled = {}
    for name in names:
        p = np.concatenate(predictions[name])
        decision = np.concatenate(predictions[f"{name}:decision"]) if f"{name}:decision" in predictions else None
        pooled[name] = report(y_all, p, decision, config.train.seed)
    return {
        "start": str(pd.Timestamp(start).date()), "end": str(pd.Timestamp(end).date()),
        "refit_months": refit_months or config.train.refit_months, "kinds": list(kinds),
        "blocks": blocks, "pooled": pooled, "seconds": {k: round(v, 2) for k, v in seconds.items()},
        "predictions": {"date": dates, "label": y_all, "fold": np.concatenate(fold_numbers),
                        **{name: np.concatenate(predictions[name]) for name in names},
                        **{f"{kind}:no_call": np.concatenate(predictions[f"{kind}:no_call"]) for kind in kinds}},
    }
