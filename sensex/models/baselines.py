"""Honest baselines on the same rows as the model.

- always_up: calls UP every day; its probability is the training window's share of UP days.
- prev_day: calls the previous session's direction; its probabilities are the training
  window's frequencies of UP after an UP day and after a DOWN day.
- logreg: logistic regression on ten lagged index returns and three volatility features.
- gbm: gradient-boosted trees on the latest session's features: every stock indicator averaged
  over the members available that day, plus the market context. It sees what the network sees
  on the window's last session, without the history or the member axis.
- sp500_rule (pre-open mode only, `sp500_rule_predictions`): calls UP when the S&P 500 rose on
  its last session known before BSE opens; its probabilities are the training window's
  frequencies of UP after an S&P 500 rise and after a fall. The pre-open mode must beat it.

Each is fit on the training rows alone; nothing here looks at an evaluation row's label.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

from sensex.features.build import Panel
from sensex.models.designs import index_design, latest_session_design
from sensex.models.portable import baseline_probabilities, gbm_to_dict, logreg_to_dict

if TYPE_CHECKING:
    from sklearn.ensemble import HistGradientBoostingClassifier

BASELINES = ("always_up", "prev_day", "logreg", "gbm")
SP500_RULE_FEATURE = "sp500_last_ret"  # `features.overnight`: present in pre-open panels only
# Modest on purpose: about 5,000 noisy daily rows support shallow trees and few rounds.
GBM_PARAMS = {
    "max_iter": 150, "learning_rate": 0.03, "max_depth": 3, "min_samples_leaf": 80,
    "l2_regularization": 1.0, "early_stopping": False, "random_state": 7,
}


# scikit-learn fits the baselines; applying them needs only their JSON (`sensex.models.portable`),
# so it is imported when fitting: scoring a saved model (drift on the dashboard) never loads it.
def _fit_gbm(design: np.ndarray, y: np.ndarray) -> HistGradientBoostingClassifier | None:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from threadpoolctl import threadpool_limits

    if len(np.unique(y)) < 2:
        return None
    model = HistGradientBoostingClassifier(**GBM_PARAMS)
    # One thread: a few thousand rows fit in under a second, while OpenMP's busy-waiting on a
    # loaded 2-core machine (training running beside it) can make it twenty times slower.
    with threadpool_limits(1):
        model.fit(design, y.astype(int))
    return model


def fit_baselines(panel: Panel, train_rows: np.ndarray, timings: dict | None = None) -> dict:
    """Fit every baseline on `train_rows` (known labels) and return them as plain JSON
    (`sensex.models.portable`): what the bundle saves and what every prediction goes through.

    `timings`, when given, receives each baseline's fit seconds.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    timings = {} if timings is None else timings
    started = time.perf_counter()
    y_train = panel.label[train_rows]
    up_share = float(np.mean(y_train))
    timings["always_up"] = time.perf_counter() - started

    started = time.perf_counter()
    design = index_design(panel)
    prev_up = design[:, 0] > 0
    p_after_up = float(np.mean(y_train[prev_up[train_rows]])) if prev_up[train_rows].any() else up_share
    p_after_down = float(np.mean(y_train[~prev_up[train_rows]])) if (~prev_up[train_rows]).any() else up_share
    timings["prev_day"] = time.perf_counter() - started

    started = time.perf_counter()
    fit_rows = train_rows[np.isfinite(design[train_rows]).all(axis=1)]
    logreg = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000))
    logreg.fit(design[fit_rows], panel.label[fit_rows].astype(int))
    timings["logreg"] = time.perf_counter() - started

    started = time.perf_counter()
    gbm = _fit_gbm(latest_session_design(panel)[train_rows], y_train)
    timings["gbm"] = time.perf_counter() - started
    return {
        "fit_start": str(panel.dates[train_rows[0]].date()), "fit_end": str(panel.dates[train_rows[-1]].date()),
        "always_up": {"up_share": up_share},
        "prev_day": {"p_after_up": p_after_up, "p_after_down": p_after_down},
        "logreg": logreg_to_dict(logreg),
        "gbm": gbm_to_dict(gbm) if gbm is not None else None,
    }


def predict_baselines(portable: dict, panel: Panel, rows: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{baseline: (probability, decision)} on `rows`, from fitted baselines as JSON."""
    index_rows = index_design(panel)[rows]
    p = baseline_probabilities(portable, index_rows, latest_session_design(panel)[rows])
    prev_up = (index_rows[:, 0] > 0).astype(int)
    decisions = {"always_up": np.ones(len(rows), dtype=int), "prev_day": prev_up}
    return {name: (p[name], decisions.get(name, (p[name] >= 0.5).astype(int))) for name in BASELINES}


def baseline_predictions(
    panel: Panel, train_rows: np.ndarray, eval_rows: dict[str, np.ndarray], timings: dict | None = None
) -> dict:
    """{baseline: {segment: (probability, decision)}} for each named set of eval rows.

    `train_rows` must have known labels; `timings`, when given, receives each baseline's fit seconds.
    """
    timings = {} if timings is None else timings
    portable = fit_baselines(panel, train_rows, timings)
    out: dict[str, dict] = {name: {} for name in BASELINES}
    if SP500_RULE_FEATURE in panel.market_feature_names:  # a pre-open panel: its own baseline too
        started = time.perf_counter()
        last_ret = panel.market[:, panel.market_feature_names.index(SP500_RULE_FEATURE)]
        out["sp500_rule"] = sp500_rule_predictions(last_ret, panel.label, train_rows, eval_rows)
        timings["sp500_rule"] = time.perf_counter() - started
    for segment, rows in eval_rows.items():
        for name, scored in predict_baselines(portable, panel, rows).items():
            out[name][segment] = scored
    return out


def sp500_rule_predictions(
    sp500_last_ret: np.ndarray, label: np.ndarray, train_rows: np.ndarray, eval_rows: dict[str, np.ndarray]
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{segment: (probability, decision)} of the rule "UP when the S&P 500 rose on its last session".

    `sp500_last_ret` (D,) is the pre-open feature of that name (`features.overnight`); `label`
    the panel's. Where no S&P 500 session is known the rule has nothing to say: it gives the
    training UP share and calls it like always-UP would.
    """
    sp500_last_ret = np.asarray(sp500_last_ret, dtype=np.float64)
    y_train = np.asarray(label, dtype=np.float64)[train_rows]
    up_share = float(np.mean(y_train))
    rose, known = sp500_last_ret > 0, np.isfinite(sp500_last_ret)
    after_rise = rose[train_rows] & known[train_rows]
    after_fall = ~rose[train_rows] & known[train_rows]
    p_after_rise = float(np.mean(y_train[after_rise])) if after_rise.any() else up_share
    p_after_fall = float(np.mean(y_train[after_fall])) if after_fall.any() else up_share
    out = {}
    for segment, rows in eval_rows.items():
        p = np.where(known[rows], np.where(rose[rows], p_after_rise, p_after_fall), up_share)
        decision = np.where(known[rows], rose[rows], up_share >= 0.5).astype(int)
        out[segment] = (p, decision)
    return out
