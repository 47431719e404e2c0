"""Probability calibration fit on the validation window (Platt scaling: sigmoid(a * logit + b)).

A temperature plus a bias: the bias absorbs the base rate of UP days, which a network trained
with early stopping tends to miss. No torch here: serving applies it with numpy.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression


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


def fit_platt(logits: np.ndarray, labels: np.ndarray, fit_start: str | None = None, fit_end: str | None = None) -> Calibration:
    if len(np.unique(labels)) < 2:
        return IDENTITY
    model = LogisticRegression(C=1e4)
    model.fit(np.asarray(logits, dtype=np.float64).reshape(-1, 1), labels.astype(int))
    return Calibration("platt", float(model.coef_[0, 0]), float(model.intercept_[0]), fit_start, fit_end)


def apply_calibration(calibration: Calibration, logits: np.ndarray) -> np.ndarray:
    return sigmoid(calibration.a * np.asarray(logits, dtype=np.float64) + calibration.b)
