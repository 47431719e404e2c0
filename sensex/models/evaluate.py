"""Classification metrics for next-session direction, with bootstrap intervals."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

METRICS = ("accuracy", "precision", "recall", "f1", "auc", "brier", "ece")


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        chosen = which == b
        if chosen.any():
            total += chosen.mean() * abs(y[chosen].mean() - p[chosen].mean())
    return float(total)


def classification_metrics(y: np.ndarray, p: np.ndarray, decision: np.ndarray | None = None) -> dict:
    """Metrics of probabilities `p` for labels `y`; `decision` overrides p >= 0.5 as the call."""
    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=np.float64)
    call = (p >= 0.5).astype(int) if decision is None else np.asarray(decision, dtype=int)
    two_classes = len(np.unique(y)) == 2
    return {
        "n": int(len(y)),
        "up_share": float(y.mean()) if len(y) else float("nan"),
        "accuracy": float((call == y).mean()),
        "precision": float(precision_score(y, call, zero_division=0)),
        "recall": float(recall_score(y, call, zero_division=0)),
        "f1": float(f1_score(y, call, zero_division=0)),
        "auc": float(roc_auc_score(y, p)) if two_classes else float("nan"),
        "brier": float(np.mean((p - y) ** 2)),
        "ece": expected_calibration_error(y, p),
    }


def bootstrap_intervals(
    y: np.ndarray, p: np.ndarray, decision: np.ndarray | None = None,
    n_boot: int = 200, block: int = 10, seed: int = 0, level: float = 0.9,
) -> dict[str, list[float]]:
    """Moving-block bootstrap (daily returns are not independent) intervals for each metric."""
    y, p = np.asarray(y), np.asarray(p)
    call = (p >= 0.5).astype(int) if decision is None else np.asarray(decision)
    n = len(y)
    if n < 2 * block:
        return {}
    rng = np.random.default_rng(seed)
    n_blocks = int(np.ceil(n / block))
    samples: dict[str, list[float]] = {m: [] for m in METRICS}
    for _ in range(n_boot):
        starts = rng.integers(0, n - block + 1, n_blocks)
        idx = (starts[:, None] + np.arange(block)[None, :]).ravel()[:n]
        m = classification_metrics(y[idx], p[idx], call[idx])
        for key in METRICS:
            samples[key].append(m[key])
    lo, hi = (1 - level) / 2, 1 - (1 - level) / 2
    return {k: [float(np.nanquantile(v, lo)), float(np.nanquantile(v, hi))] for k, v in samples.items()}
