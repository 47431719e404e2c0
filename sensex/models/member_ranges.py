"""How far each member may move next session: one HAR regression pooled over the members.

Each member's daily variance proxy is the one the index's range forecast uses for the members'
median (`features.ranges`): range^2 / (4 ln 2) + gap^2, from the panel's `range` and `gap`
indicators (a close-based range, the best the member rows allow). The forecaster is the HAR
model of Corsi (2009) on its log: ln v_{j,t+1} = a + b1 ln v_{j,t} + b5 ln mean5 + b22 ln mean22,
one set of coefficients for all members, fit by least squares on the training window's rows of
every member (about 30 times as many rows as the index has; a member's own level enters through
its own lags). As for the index, the variance forecast becomes an expected absolute move with
the mean ratio |move| / sqrt(h) on the validation window, and an 80% bound on the move with the
split-conformal quantile there (`range_portable.move_ratio`, `band_quantile`); the test window
reports its coverage. The move is that of ln(adj close), the `ret_1` indicator.

Serving applies the record as it is stored in the bundle (`members["range"]`) with numpy alone
(`range_portable.member_moves`).
"""

from __future__ import annotations

import numpy as np

from sensex.features.build import Panel
from sensex.features.ranges import FOUR_LN2, HAR_FEATURE_NAMES, har_features
from sensex.models.range_portable import BAND_LEVEL, band_quantile, member_log_variance, move_ratio

MIN_ROWS = 200  # member-sessions to fit on, and to calibrate the move on


def member_variance(panel: Panel) -> np.ndarray:
    """(D, S) each member's variance proxy, NaN where the member has no data that day."""
    names = panel.stock_feature_names
    span, gap = panel.stock[:, :, names.index("range")], panel.stock[:, :, names.index("gap")]
    return np.where(panel.available, span**2 / FOUR_LN2 + gap**2, np.nan)


def member_har(panel: Panel, variance: np.ndarray | None = None) -> np.ndarray:
    """(D, S, 3) each member's HAR features (`HAR_FEATURE_NAMES`), causal (`variance`: the
    members' `member_variance`, when the caller has it already)."""
    variance = member_variance(panel) if variance is None else variance
    return np.stack([har_features(variance[:, j]) for j in range(variance.shape[1])], axis=1)


def _rows(panel: Panel, variance: np.ndarray, features: np.ndarray,
          rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pooled (X, ln v next, |next move| in %) over `rows` and every member, where all are known."""
    rows = np.asarray(rows)
    rows = rows[rows + 1 < len(panel.dates)]
    ret = panel.stock[:, :, panel.stock_feature_names.index("ret_1")]
    with np.errstate(divide="ignore", invalid="ignore"):
        label = np.log(variance[rows + 1])  # (R, S)
    x = features[rows].reshape(-1, features.shape[2])
    y, move = label.reshape(-1), (100.0 * np.abs(ret[rows + 1])).reshape(-1)
    keep = np.isfinite(x).all(axis=1) & np.isfinite(y) & np.isfinite(move)
    return x[keep], y[keep], move[keep]


def fit_member_ranges(panel: Panel, train: np.ndarray, valid: np.ndarray, test: np.ndarray) -> dict:
    """The pooled HAR record ({} when the windows hold too few member-sessions): coefficients fit
    on `train`, the move ratio and the 80% band's quantile on `valid`, coverage and QLIKE beside
    each member's own last-22-session mean on `test`."""
    variance = member_variance(panel)
    features = member_har(panel, variance)
    x, y, _ = _rows(panel, variance, features, train)
    xv, yv, move_v = _rows(panel, variance, features, valid)
    if len(y) < MIN_ROWS or len(yv) < MIN_ROWS:
        return {}
    design = np.column_stack([np.ones(len(x)), x])
    solution, *_ = np.linalg.lstsq(design, y, rcond=None)
    record = {"feature_names": list(HAR_FEATURE_NAMES), "intercept": float(solution[0]),
              "coef": [float(c) for c in solution[1:]], "train_rows": int(len(y))}
    log_h = member_log_variance(record, xv)
    record.update(move_ratio=move_ratio(log_h, move_v), band_z=band_quantile(log_h, move_v, BAND_LEVEL),
                  level=BAND_LEVEL, valid_rows=int(len(yv)))
    xt, yt, move_t = _rows(panel, variance, features, test)
    if len(yt):
        log_t = member_log_variance(record, xt)
        mean22 = xt[:, HAR_FEATURE_NAMES.index("log_var_22")]
        qlike = lambda h: float(np.mean(np.exp(yt - h) - (yt - h) - 1.0))  # noqa: E731 - QLIKE of ln v against ln h
        inside = move_t <= 100.0 * np.sqrt(np.exp(log_t + record["band_z"]))
        record["test"] = {"rows": int(len(yt)), "qlike": qlike(log_t), "qlike_mean22": qlike(mean22),
                          "coverage_80": float(inside.mean())}
    return record
