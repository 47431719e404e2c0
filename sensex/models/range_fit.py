"""The range forecast in the model's life: fit beside the direction model at training, saved in
its bundle, scored again (never refit) by `sensex evaluate`, refit per block by the walk-forward,
and judged by the promotion gate. The forecasters, intervals and metrics are
`sensex.models.volatility`'s; the served numbers are `sensex.models.range_portable`'s.

Which sessions: the range model trains on every session whose range features and label are known
up to the direction model's last training session (`train.max_train_windows` caps the network's
windows for speed; a ridge regression on ten features costs milliseconds, so it keeps the whole
history), validates on the direction model's validation sessions (the learned model's penalty,
the conformal intervals, the band and the expected move's scale are chosen there) and is scored
on its test sessions. Nothing after the last validation session is read by the fit. The intervals
and the band then roll as a served forecast's do (`volatility.RangeFit.bounds`): each test
session is calibrated on the scores of the last 250 settled sessions before it, validation first.

The bundle's record (`BundleMeta.range`) is `RangeFit.portable` plus `serving`:
`move_ratio` (validation mean of |move| / (100 sqrt h)), `band_z` (the 80% one-sided conformal
quantile behind `range_low`/`range_high` on validation, used while fewer than 20 later sessions
are settled) and `risk_quantiles` (the model's ln h over its training
sessions at every percentile, for `risk`).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sensex.core.errors import DataError
from sensex.features.ranges import RangeData
from sensex.models import volatility as vol
from sensex.models.range_portable import (
    BAND_LEVEL,
    CALIBRATION_SESSIONS,
    MODEL,
    band_quantile,
    expected_fraction,
    move_ratio,
)
from sensex.models.segments import Segments

if TYPE_CHECKING:
    from sensex.models.config import Config

log = logging.getLogger(__name__)

CALIBRATION = (f"rolling: each session's intervals and band from the forecaster's scores of the last"
               f" {CALIBRATION_SESSIONS} settled sessions after its training window (validation first)")
BASELINE_KEYS = ("qlike", "mse_log", "r2", "big_move_auc", "coverage_80", "coverage_90")


def training_rows(data: RangeData, segments: Segments) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(train, valid, test) positions in `data` for a direction model's segments (see the module
    docstring); `data` must be built from the same panel, so positions are the panel's."""
    ok = vol.forecastable(data)
    last_train = data.dates[segments.train[-1]]
    train = np.flatnonzero(ok & (data.dates <= last_train))
    valid, test = (np.asarray(rows)[ok[rows]] for rows in (segments.valid, segments.test))
    return train, valid, test


def serving_record(data: RangeData, fit: vol.RangeFit, train: np.ndarray, valid: np.ndarray) -> dict:
    """`RangeFit.portable` with what a served forecast needs besides (`serving`)."""
    log_h = fit.forecasts(data)[MODEL]
    train, valid = (np.asarray(rows)[vol.forecastable(data)[rows]] for rows in (train, valid))
    serving = {
        "move_ratio": move_ratio(log_h[valid], data.next_abs_move[valid]),
        "band_z": band_quantile(log_h[valid], data.next_abs_move[valid], BAND_LEVEL),
        "band_level": BAND_LEVEL,
        "risk_quantiles": np.percentile(log_h[train], np.arange(101)).tolist(),
        "warmup": vol.WARMUP,
    }
    return {**fit.portable, "chosen": fit.chosen, "candidates": fit.candidates, "serving": serving,
            "counts": data.counts}


def fit_part(data: RangeData, segments: Segments, seed: int = 0, n_boot: int = vol.BOOT) -> tuple[dict, dict]:
    """Fit on the segments (`training_rows`) and score on the test sessions: (bundle record, test report)."""
    train, valid, test = training_rows(data, segments)
    fit = vol.fit_range(data, train, valid)
    record = serving_record(data, fit, train, valid)
    return record, score(record, data, test, seed=seed, n_boot=n_boot)


def score(record: dict, data: RangeData, rows: np.ndarray, seed: int = 0, n_boot: int = vol.BOOT) -> dict:
    """The `range` record of the evaluate JSON (`volatility.score_forecasts`) for a saved record on
    `rows` of `data`, the saved forecasters re-applied, nothing refit; beside it the band's
    coverage and the expected move against the moves that happened."""
    rows = np.asarray(rows)[vol.forecastable(data)[rows]]
    fit = vol.RangeFit(portable=record)
    out = vol.evaluate_range(data, fit, rows, seed=seed, n_boot=n_boot)
    all_log_h = fit.forecasts(data)[MODEL]
    log_h = all_log_h[rows]
    move = data.next_abs_move[rows]
    serving = record.get("serving", {})
    if len(rows):
        out["start"], out["end"] = str(data.dates[rows[0]].date()), str(data.dates[rows[-1]].date())
        out["calibration"] = CALIBRATION
        if serving:
            band = fit.band(data, all_log_h, rows, serving["band_z"])
            out["band_coverage_80"] = float(np.mean(move <= band))
            out["mean_expected_move_pct"] = 100.0 * float(np.mean(expected_fraction(serving["move_ratio"], log_h)))
            out["mean_abs_move_pct"] = float(np.mean(move))
    out["mode"] = data.mode
    out["fit"] = {"train": record.get("train"), "valid": record.get("valid"), "chosen": record.get("chosen")}
    return out


def score_between(record: dict, data: RangeData, start: str, end: str, seed: int = 0) -> dict | None:
    """`score` on the sessions dated in [start, end]; None when fewer than 10 have a range forecast."""
    rows = vol.date_rows(data, start, end)
    if len(rows) < 10:
        return None
    out = score(record, data, rows, seed=seed)
    train = record.get("train") or {}
    if train.get("fit_start") and train.get("fit_end"):
        inside = (data.dates[rows] >= pd.Timestamp(train["fit_start"])) & (data.dates[rows] <= pd.Timestamp(train["fit_end"]))
        out["overlaps_training_rows"] = int(inside.sum())
    return out


def summary(report: dict | None) -> dict | None:
    """The compact record kept in the bundle (`BundleMeta.test_range`) and printed by `sensex train`:
    the model's metrics and intervals, each baseline's metrics and the model's paired QLIKE gain."""
    if not report or "metrics" not in report:
        return None
    keep = ("n", "start", "end", "mode", "calibration", "coverage_80", "coverage_90", "band_coverage_80", "mean_expected_move_pct",
            "mean_abs_move_pct", "big_move_share", "fit")
    return {**{k: report[k] for k in keep if k in report},
            "metrics": report["metrics"],
            "baselines": {name: {**{k: b[k] for k in BASELINE_KEYS if k in b}, "model_gain_qlike": b["model_gain"]["qlike"]}
                          for name, b in report["baselines"].items()}}


def mlflow_metrics(report: dict | None, prefix: str = "range_test") -> dict[str, float]:
    """`range_test_qlike`, `range_test_coverage_80`, `range_baseline_ewma_test_qlike`, ... as floats."""
    if not report or "metrics" not in report:
        return {}
    out = {f"{prefix}_{k}": report["metrics"][k] for k in BASELINE_KEYS if k in report["metrics"]}
    out |= {f"{prefix}_{k}": report[k] for k in ("n", "band_coverage_80", "mean_expected_move_pct", "mean_abs_move_pct")
            if k in report}
    for name, b in report["baselines"].items():
        out |= {f"range_baseline_{name}_{prefix.removeprefix('range_')}_{k}": b[k] for k in BASELINE_KEYS if k in b}
    return {k: float(v) for k, v in out.items() if v is not None and v == v}


def walk_forward(data: RangeData, folds: list, seed: int = 0, n_boot: int = vol.BOOT) -> dict:
    """The range forecast refit on each walk-forward fold (`models.walkforward.Fold`: train and
    valid before the block, the block as test), every block's forecasts pooled and scored like
    the fixed split (`volatility.score_forecasts`), with the QLIKE of each block.

    `expected_move` (popped by the caller before the report is shown): each block session's
    expected absolute move as a fraction, as a served forecast would have given it then, for
    `sensex backtest`'s volatility targeting."""
    labels, moves, thresholds, blocks, sessions = [], [], [], [], []
    forecasts: dict[str, list] = {}
    bounds: dict[str, dict[float, list]] = {}
    bands, ratios, skipped = [], [], []
    for fold in folds:
        train, valid, test = training_rows(data, fold.segments)
        if len(test) == 0:
            continue
        try:
            fit = vol.fit_range(data, train, valid)
        except DataError as exc:  # an early block with too little history: said, not fatal
            skipped.append({"block": [str(fold.block_start.date()), str(fold.block_end.date())], "reason": str(exc)})
            continue
        record = serving_record(data, fit, train, valid)
        log_h = fit.forecasts(data)
        for name, values in log_h.items():
            forecasts.setdefault(name, []).append(values[test])
        for name, levels in fit.bounds(data, log_h, test).items():
            for level, b in levels.items():
                bounds.setdefault(name, {}).setdefault(level, []).append(b)
        labels.append(data.label[test])
        sessions.append(data.dates[test])
        moves.append(data.next_abs_move[test])
        thresholds.append(np.full(len(test), record["big_move_threshold"]))
        bands.append(fit.band(data, log_h[MODEL], test, record["serving"]["band_z"]))
        ratios.append(np.full(len(test), record["serving"]["move_ratio"]))
        blocks.append({"block": [str(fold.block_start.date()), str(fold.block_end.date())], "n": int(len(test)),
                       "chosen": fit.chosen, "train": record["train"], "valid": record["valid"],
                       "qlike": {name: vol.qlike(data.label[test], values[test]) for name, values in log_h.items()}})
    if not blocks:
        return {"blocks": [], "n": 0, "skipped": skipped, "expected_move": pd.Series(dtype=float)}
    names = list(forecasts)
    out = vol.score_forecasts(np.concatenate(labels), np.concatenate(moves), np.concatenate(thresholds),
                              {name: np.concatenate(forecasts[name]) for name in names},
                              {name: {level: np.concatenate(parts) for level, parts in levels.items()}
                               for name, levels in bounds.items()}, seed=seed, n_boot=n_boot)
    move = np.concatenate(moves)
    out["band_coverage_80"] = float(np.mean(move <= np.concatenate(bands)))
    expected_pct = 100.0 * expected_fraction(np.concatenate(ratios), np.concatenate(forecasts[MODEL]))
    out["mean_expected_move_pct"] = float(np.mean(expected_pct))
    out["expected_move"] = pd.Series(expected_pct / 100.0, index=pd.DatetimeIndex(np.concatenate(sessions)))
    out["mean_abs_move_pct"] = float(np.mean(move))
    out["mode"] = data.mode
    out["calibration"] = CALIBRATION
    out["blocks"] = blocks
    out["skipped"] = skipped
    return out


def gate_qlike(record: dict, data: RangeData, dates: pd.DatetimeIndex) -> dict:
    """QLIKE of the saved learned model and of the saved EWMA on the sessions `dates` that have a
    range forecast (the gate's sessions): {"n", "start", "end", "model", "ewma"}."""
    rows = np.flatnonzero(data.dates.isin(pd.DatetimeIndex(dates)) & vol.forecastable(data))
    if len(rows) == 0:
        return {"n": 0}
    log_h = vol.predict({"forecasters": {k: record["forecasters"][k] for k in (MODEL, "ewma")}}, data)
    label = data.label[rows]
    return {"n": int(len(rows)), "start": str(data.dates[rows[0]].date()), "end": str(data.dates[rows[-1]].date()),
            "model": vol.qlike(label, log_h[MODEL][rows]), "ewma": vol.qlike(label, log_h["ewma"][rows])}


def range_part(ranges: RangeData | None, segments: Segments, config: Config) -> tuple[dict, dict | None, float | None, str | None]:
    """The range forecast fit on the direction model's segments (`sensex.models.range_fit`):
    (bundle record, test report, seconds, why not) - empty when turned off or impossible."""
    if not config.model.range_forecast:
        return {}, None, None, "turned off by the preset (model.range_forecast: false)"
    if ranges is None:
        return {}, None, None, "no range data was given to train_model"
    started = time.perf_counter()
    try:
        record, scored = fit_part(ranges, segments, seed=config.train.seed)
    except DataError as exc:  # too little history for it: the direction model is still trained
        log.warning("No range forecast: %s", exc)
        return {}, None, None, str(exc)
    return record, scored, round(time.perf_counter() - started, 2), None
