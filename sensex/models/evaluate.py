"""Evaluation in one place: classification metrics with bootstrap intervals, paired differences,
and `score`, which scores a trained model on any stored range beside the baselines.

Plain numpy (AUC by the rank-sum formula) so that the bootstrap's thousands of calls stay cheap.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

METRICS = ("accuracy", "precision", "recall", "f1", "auc", "brier", "ece")


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Sum over ten equal-width probability bins of (share of rows) * |observed UP rate - mean p|."""
    y, p = np.asarray(y, dtype=np.float64), np.asarray(p, dtype=np.float64)
    if len(y) == 0:
        return float("nan")
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    count = np.bincount(which, minlength=bins)
    y_sum = np.bincount(which, weights=y, minlength=bins)
    p_sum = np.bincount(which, weights=p, minlength=bins)
    used = count > 0
    gap = np.abs(y_sum[used] - p_sum[used]) / count[used]
    return float(np.sum(count[used] / len(y) * gap))


def average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks with ties given their mean rank (scipy's `rankdata`), in numpy: the API
    scores drift with this module and should not load scipy for one function."""
    x = np.asarray(x, dtype=np.float64)
    order = np.argsort(x, kind="stable")
    _, first, counts = np.unique(x[order], return_index=True, return_counts=True)
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = np.repeat(first + (counts + 1) / 2.0, counts)
    return ranks


def roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    """Probability that a random UP day scores above a random DOWN day (ties count half)."""
    y = np.asarray(y, dtype=int)
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = average_ranks(p)
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def classification_metrics(y: np.ndarray, p: np.ndarray, decision: np.ndarray | None = None) -> dict:
    """Metrics of probabilities `p` for labels `y`; `decision` overrides p >= 0.5 as the call."""
    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=np.float64)
    call = (p >= 0.5).astype(int) if decision is None else np.asarray(decision, dtype=int)
    n = len(y)
    true_pos = int(np.sum((call == 1) & (y == 1)))
    called_up, actual_up = int(call.sum()), int(y.sum())
    precision = true_pos / called_up if called_up else 0.0
    recall = true_pos / actual_up if actual_up else 0.0
    f1 = 2 * true_pos / (called_up + actual_up) if called_up + actual_up else 0.0
    return {
        "n": int(n),
        "up_share": float(y.mean()) if n else float("nan"),
        "accuracy": float((call == y).mean()) if n else float("nan"),
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "auc": roc_auc(y, p),
        "brier": float(np.mean((p - y) ** 2)) if n else float("nan"),
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


def report(y: np.ndarray, p: np.ndarray, decision: np.ndarray | None = None, seed: int = 0) -> dict:
    """Metrics plus their 90% block-bootstrap intervals under `intervals`."""
    out = classification_metrics(y, p, decision)
    out["intervals"] = bootstrap_intervals(y, p, decision, seed=seed)
    return out


def paired_difference(
    y: np.ndarray, p_a: np.ndarray, p_b: np.ndarray,
    n_boot: int = 200, block: int = 10, seed: int = 0, level: float = 0.9,
) -> dict[str, list[float]]:
    """AUC and Brier of model a minus model b on the same rows, with a paired moving-block
    bootstrap interval: {"auc": [difference, low, high], "brier": [...]}.

    Two intervals that overlap say little; the interval of the difference says whether a beats b.
    """
    y, p_a, p_b = np.asarray(y), np.asarray(p_a, dtype=np.float64), np.asarray(p_b, dtype=np.float64)
    n = len(y)

    def differences(idx: np.ndarray) -> tuple[float, float]:
        auc = roc_auc(y[idx], p_a[idx]) - roc_auc(y[idx], p_b[idx])
        brier = float(np.mean((p_a[idx] - y[idx]) ** 2) - np.mean((p_b[idx] - y[idx]) ** 2))
        return auc, brier

    point = differences(np.arange(n))
    if n < 2 * block:
        return {"auc": [point[0], float("nan"), float("nan")], "brier": [point[1], float("nan"), float("nan")]}
    rng = np.random.default_rng(seed)
    n_blocks = int(np.ceil(n / block))
    samples = []
    for _ in range(n_boot):
        starts = rng.integers(0, n - block + 1, n_blocks)
        samples.append(differences((starts[:, None] + np.arange(block)[None, :]).ravel()[:n]))
    samples_array = np.asarray(samples)
    lo, hi = (1 - level) / 2, 1 - (1 - level) / 2
    return {
        name: [float(point[i]), float(np.nanquantile(samples_array[:, i], lo)), float(np.nanquantile(samples_array[:, i], hi))]
        for i, name in enumerate(("auc", "brier"))
    }


@dataclass(frozen=True)
class EvalReport:
    """A trained model scored on a range of sessions, beside baselines fit on its training window."""

    start: str
    end: str
    n: int
    overlaps_training_rows: int  # rows inside the model's training window: their scores flatter it
    metrics: dict[str, float]
    intervals: dict[str, list[float]]
    baselines: dict[str, dict[str, float]]
    mode: str = "close"
    # The same probabilities against close > open of the target session, model and baselines.
    metrics_after_open: dict[str, float] = field(default_factory=dict)
    baselines_after_open: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def predict_rows(bundle, panel, rows: np.ndarray, chunk: int = 64) -> tuple[np.ndarray, np.ndarray | None]:
    """P(UP) of `bundle` for the windows ending at `rows` of `panel`, and the ensemble seeds'
    spread ((N, 2), None for a single network). The one way to score a saved model on stored rows.
    Windows go through the graph `chunk` at a time: a batch of 256 held 80 MB of input alone, and
    smaller batches were no slower (they stay in the CPU's caches)."""
    from sensex.features.windows import make_windows, model_input
    from sensex.models.designs import index_design, latest_session_design

    tensor = model_input(panel, bundle.scaler)  # (D, S, C)
    index_rows, latest_rows = index_design(panel), latest_session_design(panel)
    probabilities, spreads = [], []
    for part in np.array_split(rows, max(1, int(np.ceil(len(rows) / chunk)))):
        windows = make_windows(tensor, part, bundle.window)
        tabular = {"index": index_rows[part], "latest": latest_rows[part]}
        probabilities.append(bundle.probabilities(windows, tabular))
        spread = bundle.spread(windows, tabular)
        if spread is not None:
            spreads.append(spread)
    return np.concatenate(probabilities), (np.concatenate(spreads) if spreads else None)


def score(bundle, panel, start: str, end: str) -> EvalReport:
    """Score `bundle` (a `sensex.models.bundle.Bundle`) on the labelled sessions of `panel` in
    [start, end]. The baselines are the ones fit on the model's own training window (saved in the
    bundle; refit there for bundles older than schema 3), so every figure stands on the same rows."""
    from sensex.core.errors import DataError
    from sensex.features.labels import after_open_label
    from sensex.models.baselines import SP500_RULE_FEATURE, fit_baselines, predict_baselines, sp500_rule_predictions

    positions = np.arange(len(panel.dates))
    in_range = (panel.dates >= pd.Timestamp(start)) & (panel.dates <= pd.Timestamp(end))
    rows = positions[in_range & np.isfinite(panel.label) & (positions >= bundle.window - 1)]
    if len(rows) < 10:
        raise DataError(f"Only {len(rows)} labelled sessions between {start} and {end}: choose a longer range.")
    train_start, train_end = (pd.Timestamp(d) for d in bundle.meta.segments["train"])
    in_train = (panel.dates >= train_start) & (panel.dates <= train_end)
    probabilities, _ = predict_rows(bundle, panel, rows)
    y = panel.label[rows]
    metrics = classification_metrics(y, probabilities)
    train_rows = positions[in_train & np.isfinite(panel.label)]
    portable = bundle.meta.baselines or fit_baselines(panel, train_rows)
    baselines = predict_baselines(portable, panel, rows)
    if SP500_RULE_FEATURE in panel.market_feature_names:  # a pre-open panel: the rule it must beat
        last_ret = panel.market[:, panel.market_feature_names.index(SP500_RULE_FEATURE)]
        baselines["sp500_rule"] = sp500_rule_predictions(last_ret, panel.label, train_rows, {"eval": rows})["eval"]
    summary = ("accuracy", "auc", "brier")
    after_open = after_open_label(panel.index_open, panel.index_close)

    def after_open_summary(p: np.ndarray, decision: np.ndarray | None = None) -> dict[str, float]:
        scored = metrics_after_open(after_open, rows, p, decision)
        return {k: scored[k] for k in (*summary, "n", "up_share")}

    return EvalReport(
        start=str(panel.dates[rows[0]].date()), end=str(panel.dates[rows[-1]].date()), n=int(len(rows)),
        overlaps_training_rows=int(in_train[rows].sum()),
        metrics={k: metrics[k] for k in ("accuracy", "auc", "brier", "f1", "precision", "recall", "ece", "up_share")},
        intervals=bootstrap_intervals(y, probabilities),
        baselines={name: {k: v for k, v in classification_metrics(y, *scored).items() if k in summary}
                   for name, scored in baselines.items()},
        mode=panel.mode,
        metrics_after_open=after_open_summary(probabilities),
        baselines_after_open={name: after_open_summary(*scored) for name, scored in baselines.items()},
    )


def metrics_after_open(
    after_open: np.ndarray, rows: np.ndarray, p: np.ndarray, decision: np.ndarray | None = None, seed: int = 0
) -> dict:
    """The same probabilities scored against the move after the open (`features.labels.after_open_label`).

    `p` (and `decision`) belong to `rows`; rows whose after-open label is unknown are left out.
    """
    label = np.asarray(after_open, dtype=np.float64)[np.asarray(rows)]
    known = np.isfinite(label)
    p = np.asarray(p, dtype=np.float64)[known]
    chosen = None if decision is None else np.asarray(decision)[known]
    return report(label[known].astype(int), p, chosen, seed=seed)
