"""Honest baselines on the same rows as the model.

- always_up: calls UP every day; its probability is the training window's share of UP days.
- prev_day: calls the previous session's direction; its probabilities are the training
  window's frequencies of UP after an UP day and after a DOWN day.
- logreg: logistic regression on ten lagged index returns and three volatility features.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sensex.features.build import Panel


def index_design(panel: Panel) -> np.ndarray:
    """(D, 13): index log returns at lags 0..9, realized vol over 5 and 20 sessions, day range."""
    log_close = np.log(panel.index_close)
    ret = np.concatenate([[np.nan], np.diff(log_close)])
    lags = [np.concatenate([np.full(k, np.nan), ret[: len(ret) - k]]) for k in range(10)]

    def rolling_std(x: np.ndarray, n: int) -> np.ndarray:
        out = np.full_like(x, np.nan)
        windows = np.lib.stride_tricks.sliding_window_view(x, n)
        out[n - 1 :] = windows.std(axis=1)
        return out

    day_range = panel.market[:, panel.market_feature_names.index("index_range")]
    return np.column_stack(lags + [rolling_std(ret, 5), rolling_std(ret, 20), day_range])


def baseline_predictions(panel: Panel, train_rows: np.ndarray, eval_rows: dict[str, np.ndarray]) -> dict:
    """{baseline: {segment: (probability, decision)}} for each named set of eval rows."""
    y_train = panel.label[train_rows]
    up_share = float(np.mean(y_train))
    design = index_design(panel)
    prev_up = design[:, 0] > 0
    p_after_up = float(np.mean(y_train[prev_up[train_rows]])) if prev_up[train_rows].any() else up_share
    p_after_down = float(np.mean(y_train[~prev_up[train_rows]])) if (~prev_up[train_rows]).any() else up_share

    fit_rows = train_rows[np.isfinite(design[train_rows]).all(axis=1)]
    logreg = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000))
    logreg.fit(design[fit_rows], panel.label[fit_rows].astype(int))

    out: dict[str, dict] = {"always_up": {}, "prev_day": {}, "logreg": {}}
    for segment, rows in eval_rows.items():
        n = len(rows)
        out["always_up"][segment] = (np.full(n, up_share), np.ones(n, dtype=int))
        prev = prev_up[rows]
        out["prev_day"][segment] = (np.where(prev, p_after_up, p_after_down), prev.astype(int))
        x = np.nan_to_num(design[rows])
        p = logreg.predict_proba(x)[:, 1]
        out["logreg"][segment] = (p, (p >= 0.5).astype(int))
    return out
