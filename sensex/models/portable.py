"""Fitted baselines as plain JSON, applied with numpy: what a model bundle carries so that the
serving process (no torch, no scikit-learn) can score the baselines and the ensemble's baseline
members exactly as training did.

- logreg: the standard scaler's mean and scale, the coefficients and the intercept.
- gbm: every tree of the histogram gradient boosting (split feature, threshold, where missing
  values go, children, leaf values) and the starting log-odds.
- always_up, prev_day: the training window's frequencies.

`tests/unit/test_portable_baselines.py` checks that these reproduce scikit-learn's
`predict_proba` to 1e-12.
"""

from __future__ import annotations

import numpy as np

from sensex.models.calibrate import sigmoid


def logreg_to_dict(pipeline) -> dict:
    """A fitted `make_pipeline(StandardScaler(), LogisticRegression())` as JSON-ready floats."""
    scaler, logreg = pipeline[0], pipeline[-1]
    return {"mean": scaler.mean_.tolist(), "scale": scaler.scale_.tolist(),
            "coef": logreg.coef_[0].tolist(), "intercept": float(logreg.intercept_[0])}


def logreg_logit(params: dict, design: np.ndarray) -> np.ndarray:
    """(N, 13) index design -> (N,) log-odds; missing inputs count as 0, as training scored them."""
    x = np.nan_to_num(np.asarray(design, dtype=np.float64))
    z = (x - np.asarray(params["mean"])) / np.asarray(params["scale"])
    return z @ np.asarray(params["coef"]) + params["intercept"]


def gbm_to_dict(model) -> dict:
    """A fitted binary `HistGradientBoostingClassifier` (numeric features only) as JSON-ready trees."""
    trees = []
    for (predictor,) in model._predictors:  # one tree per boosting round for a binary target
        nodes = predictor.nodes
        if nodes["is_categorical"].any():
            raise ValueError("categorical splits are not exported")
        trees.append({
            "feature": nodes["feature_idx"].astype(int).tolist(),
            "threshold": nodes["num_threshold"].astype(float).tolist(),
            "missing_left": nodes["missing_go_to_left"].astype(bool).tolist(),
            "left": nodes["left"].astype(int).tolist(),
            "right": nodes["right"].astype(int).tolist(),
            "leaf": nodes["is_leaf"].astype(bool).tolist(),
            "value": nodes["value"].astype(float).tolist(),
        })
    return {"baseline": float(np.ravel(model._baseline_prediction)[0]), "trees": trees}


def gbm_logit(params: dict, design: np.ndarray) -> np.ndarray:
    """(N, F + M) latest-session design -> (N,) log-odds, walking every tree for all rows at once."""
    x = np.asarray(design, dtype=np.float64)
    rows = np.arange(len(x))
    total = np.full(len(x), params["baseline"])
    for tree in params["trees"]:
        feature, threshold = np.asarray(tree["feature"]), np.asarray(tree["threshold"])
        missing_left, leaf = np.asarray(tree["missing_left"]), np.asarray(tree["leaf"])
        left, right, value = np.asarray(tree["left"]), np.asarray(tree["right"]), np.asarray(tree["value"])
        node = np.zeros(len(x), dtype=int)
        for _ in range(len(leaf)):  # a path is never longer than the number of nodes
            inner = ~leaf[node]
            if not inner.any():
                break
            at = node[inner]
            v = x[rows[inner], feature[at]]
            go_left = np.where(np.isnan(v), missing_left[at], v <= threshold[at])
            node[inner] = np.where(go_left, left[at], right[at])
        total += value[node]
    return total


def baseline_probabilities(params: dict, index_rows: np.ndarray, latest_rows: np.ndarray) -> dict[str, np.ndarray]:
    """P(UP) of each saved baseline for rows given by their index design and latest-session design.

    `params` is what `sensex.models.baselines.fit_baselines` returns as `portable`.
    """
    n = len(index_rows)
    prev_up = np.nan_to_num(np.asarray(index_rows, dtype=np.float64)[:, 0]) > 0
    out = {
        "always_up": np.full(n, params["always_up"]["up_share"]),
        "prev_day": np.where(prev_up, params["prev_day"]["p_after_up"], params["prev_day"]["p_after_down"]),
        "logreg": sigmoid(logreg_logit(params["logreg"], index_rows)),
    }
    gbm = params.get("gbm")
    out["gbm"] = sigmoid(gbm_logit(gbm, latest_rows)) if gbm else np.full(n, params["always_up"]["up_share"])
    return out
