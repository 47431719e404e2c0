"""Probability calibration fit on the validation window (Platt scaling: sigmoid(a * logit + b)).

A temperature plus a bias: the bias absorbs the base rate of UP days, which a network trained
with early stopping tends to miss. The slope is kept positive: calibration may shrink the
network's confidence toward the base rate, never reverse its ranking (an unconstrained fit on a
few hundred validation days can, and would then turn a weak signal into its opposite by noise).
No torch here: serving applies it with numpy.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Calibration:
    method: str
    a: float
    b: float
    fit_start: str | None = None
    fit_end: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


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
    return sigmoid(calibration.a * np.asarray(logits, dtype=np.float64) + calibration.b)
