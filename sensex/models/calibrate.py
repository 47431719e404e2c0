"""Probability calibration fit on the validation window (Platt scaling: sigmoid(a * logit + b)).

A temperature plus a bias: the bias absorbs the base rate of UP days, which a network trained
with early stopping tends to miss. The slope is kept positive: calibration may shrink the
network's confidence toward the base rate, never reverse its ranking (an unconstrained fit on a
few hundred validation days can, and would then turn a weak signal into its opposite by noise).
No torch here: serving applies it with numpy.

Fit on one validation year, the bias also carries that year's share of UP days, and one year's
share is a poor guess of the next year's: on the real SENSEX, over the 14 years 2005-2018 (labels
only, before any test window), the share over all years so far predicts the next year's share
with an RMSE of 0.054, the last year's alone 0.080 (`bench/base_rate.py`). So the calibrated
logit is moved by `prior_offset` = logit(long-run share) - logit(validation share), the textbook
correction of a classifier's posterior for a new class prior (Saerens, Latinne and Decaestecker,
2002), with the long-run share taken over every labelled training and validation row.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np


@dataclass(frozen=True)
class Calibration:
    method: str
    a: float
    b: float
    fit_start: str | None = None
    fit_end: str | None = None
    prior_offset: float = 0.0  # added to the logit: see `prior_shift` (bundles before it have none)

    def to_dict(self) -> dict:
        return asdict(self)

    def with_prior(self, offset: float) -> Calibration:
        return replace(self, prior_offset=float(offset))


IDENTITY = Calibration("identity", 1.0, 0.0)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -50, 50)))


MIN_SLOPE = 1e-3  # keeps the ranking (and so the AUC) of the raw logits


def fit_platt(logits: np.ndarray, labels: np.ndarray, fit_start: str | None = None, fit_end: str | None = None) -> Calibration:
    """Maximum-likelihood sigmoid(a * logit + b) with a >= MIN_SLOPE."""
    y = np.asarray(labels, dtype=np.float64)
    if len(np.unique(y)) < 2:
        return IDENTITY
    x = np.asarray(logits, dtype=np.float64)

    def loss(params: np.ndarray) -> tuple[float, np.ndarray]:
        z = params[0] * x + params[1]
        nll = np.mean(np.logaddexp(0.0, z) - y * z)
        residual = sigmoid(z) - y
        return float(nll), np.array([np.mean(residual * x), np.mean(residual)])

    base = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))
    start = np.array([1.0, np.log(base / (1 - base))])
    from scipy.optimize import minimize  # fitting only: serving applies a fitted calibration

    fit = minimize(loss, start, jac=True, method="L-BFGS-B", bounds=[(MIN_SLOPE, None), (None, None)])
    return Calibration("platt", float(fit.x[0]), float(fit.x[1]), fit_start, fit_end)


def apply_calibration(calibration: Calibration, logits: np.ndarray) -> np.ndarray:
    z = calibration.a * np.asarray(logits, dtype=np.float64) + calibration.b + calibration.prior_offset
    return sigmoid(z)


def logit(p: float | np.ndarray) -> float | np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def prior_shift(validation_labels: np.ndarray, long_run_labels: np.ndarray) -> float:
    """The logit offset that turns probabilities calibrated on `validation_labels` into ones for
    the UP share of `long_run_labels` (every labelled row up to the end of validation)."""
    valid, long_run = np.asarray(validation_labels, dtype=np.float64), np.asarray(long_run_labels, dtype=np.float64)
    if len(valid) == 0 or len(long_run) == 0 or len(np.unique(valid)) < 2:
        return 0.0
    return float(logit(long_run.mean()) - logit(valid.mean()))


def shift_probabilities(p: np.ndarray, offset: float) -> np.ndarray:
    """P(UP) with `offset` added to its logit (`prior_shift`)."""
    p = np.asarray(p, dtype=np.float64)
    return p if offset == 0.0 else sigmoid(logit(p) + offset)
