"""Reliability (calibration) diagram: does P(UP) = 0.55 come true 55% of the time?

Bins hold equal numbers of rows: next-session probabilities crowd around 0.5, and equal-width
bins would leave one or two bins with all the data. Plain matplotlib objects on the Agg canvas,
so nothing here picks or changes a global backend.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sensex.models.evaluate import classification_metrics


def reliability_table(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list[dict]:
    """Per equal-count bin: rows, mean predicted P(UP), observed UP rate."""
    y, p = np.asarray(y, dtype=np.float64), np.asarray(p, dtype=np.float64)
    order = np.argsort(p, kind="stable")
    rows = []
    for chunk in np.array_split(order, min(bins, max(len(p), 1))):
        if len(chunk):
            rows.append({"n": int(len(chunk)), "mean_probability": float(p[chunk].mean()),
                         "observed_up_rate": float(y[chunk].mean()),
                         "low": float(p[chunk].min()), "high": float(p[chunk].max())})
    return rows


def plot_reliability(y: np.ndarray, p: np.ndarray, path: str | Path, title: str = "Reliability", bins: int = 10) -> Path:
    """Write a PNG: reliability curve over the diagonal, and a histogram of the probabilities."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    table = reliability_table(y, p, bins)
    metrics = classification_metrics(y, p)
    figure = Figure(figsize=(6.0, 6.5), dpi=100)
    FigureCanvasAgg(figure)
    top, bottom = figure.subplots(2, 1, height_ratios=[3, 1], sharex=True)
    predicted = [r["mean_probability"] for r in table]
    observed = [r["observed_up_rate"] for r in table]
    low = min([0.3, *predicted, *observed]) - 0.02
    high = max([0.7, *predicted, *observed]) + 0.02
    top.plot([low, high], [low, high], color="grey", linestyle="--", linewidth=1, label="perfectly calibrated")
    top.axhline(float(np.mean(y)), color="tab:green", linewidth=1, linestyle=":", label="share of UP days")
    top.plot(predicted, observed, marker="o", color="tab:blue", label=f"model ({len(table)} equal-count bins)")
    top.set_xlim(low, high)
    top.set_ylim(low, high)
    top.set_ylabel("observed share of UP sessions")
    top.set_title(f"{title}\nn={metrics['n']}  Brier {metrics['brier']:.4f}  ECE {metrics['ece']:.3f}  AUC {metrics['auc']:.3f}",
                  fontsize=10)
    top.legend(loc="upper left", fontsize=8)
    top.grid(alpha=0.3)
    bottom.hist(np.clip(p, low, high), bins=30, range=(low, high), color="tab:blue", alpha=0.7)
    bottom.set_xlabel("calibrated P(UP)")
    bottom.set_ylabel("sessions")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    return path
