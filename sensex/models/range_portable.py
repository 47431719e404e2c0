"""The range forecast as served: the bundle's fitted record (`BundleMeta.range`, written by
`sensex.models.range_fit`) applied to one session's range features with numpy alone.

The serving process imports neither pandas nor torch (tests/integration/test_lean_serving.py), so
this module reads only plain JSON numbers and numpy arrays: the learned model is a linear model on
log features (`sensex.models.volatility.LinearForecast`), ln h = intercept + coef . (x - center) /
scale + log_scale, a dot product of about ten numbers. That is why it travels as JSON in the same
bundle as the ONNX graph and is applied in the same forecast call, instead of inside the graph:
its inputs are not the network's input (they are log range statistics of the index, computed by
`sensex.features.ranges`, not the scaled window), so a graph holding it would need a second input
that every existing caller of the graph (the forecast, the explanation, the drift history, the
MLflow signature) would have to supply, for a computation numpy does in microseconds. The fitted
baselines and the ensemble's combiner travel the same way (`sensex.models.portable`).

What a forecast gets (`expected_move`), for the session after the last one read:

- `pct`: the expected absolute close-to-close move in percent: k * 100 * sqrt(h), k the mean of
  |move| / (100 sqrt(h)) on the validation window (measured, not the 0.80 of a normal law);
- `points`: the same in index points, from the last close;
- `interval_pct`: the 80% conformal interval of the absolute move (`interval_quantiles`);
- `range_low`, `range_high`: the 80% band for the target session's close: last close * exp(-+q),
  q the move that the absolute move stays below 80% of the time (a one-sided conformal quantile,
  `upper_quantile`). Symmetric: a range forecast says how far, never which way;
- `calibration`: where those quantiles come from. They roll: the model's scores of its last
  CALIBRATION_SESSIONS settled sessions after its training window (`recent_scores`, computed
  with the forecast's inputs), so the band widens after a calm year turns wild instead of
  keeping the validation year's width for the model's whole life; with fewer than
  MIN_CALIBRATION of them (an as-of date inside training), the validation quantiles in the bundle.

`risk` becomes the forecast's percentile among the model's forecasts over its training window:
Low below the 33rd, High above the 67th (`risk_view`).
"""

from __future__ import annotations

import math
import warnings

import numpy as np

MODEL = "model"
LEVEL = "0.8"  # the interval and band a forecast shows (the record also holds 0.9)
BAND_LEVEL = 0.8
# The intervals and the band roll: a forecast's quantiles come from the model's scores of the last
# CALIBRATION_SESSIONS settled sessions after its training window (about a year: at the end of
# training those are the validation sessions), not from the validation year for ever.
CALIBRATION_SESSIONS = 250
MIN_CALIBRATION = 20  # fewer settled sessions than this: the validation quantiles saved in the bundle
RISK_BANDS = (100.0 / 3.0, 200.0 / 3.0)  # percentiles: Low below the first, High above the second
NOT_A_DIRECTION = "A range forecast says how far the index may move, never which way."
MEMBER_NOT_A_DIRECTION = "A range forecast says how far the member may move, never which way."


def has_range(meta) -> bool:
    """True when a bundle's metadata carries a fitted range part (schema 5 trained with it)."""
    record = getattr(meta, "range", None) or {}
    return bool(record.get("forecasters", {}).get(MODEL)) and bool(record.get("serving"))


def log_variances(record: dict, rows: np.ndarray) -> np.ndarray:
    """(N,) ln h of the learned model for sessions' features `rows` (N, K), in `record["feature_names"]` order."""
    model = record["forecasters"][MODEL]
    names = list(record["feature_names"])
    x = np.asarray(rows, dtype=np.float64).reshape(-1, len(names))[:, [names.index(f) for f in model["feature_names"]]]
    z = (x - np.asarray(model["center"], dtype=np.float64)) / np.asarray(model["scale"], dtype=np.float64)
    return model["intercept"] + z @ np.asarray(model["coef"], dtype=np.float64) + model.get("log_scale", 0.0)


def log_variance(record: dict, row: np.ndarray) -> float:
    """ln h of the learned model for one session's features `row`, in `record["feature_names"]` order."""
    return float(log_variances(record, np.asarray(row, dtype=np.float64).reshape(1, -1))[0])


def scores(log_h: np.ndarray, abs_move: np.ndarray) -> np.ndarray:
    """The conformal score of each session, z = ln((m/100)^2) - ln h (m its absolute move in
    percent): -inf for a session that did not move, NaN where the move or the forecast is unknown."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log((np.asarray(abs_move, dtype=np.float64) / 100.0) ** 2) - np.asarray(log_h, dtype=np.float64)


def interval_quantiles(z_sorted: np.ndarray, level: float) -> list[float]:
    """[z_low, z_high]: the split-conformal quantiles of sorted scores for a central `level`
    interval, one per tail (the floor((n+1) a/2)-th and ceil((n+1)(1 - a/2))-th smallest, a = 1 - level)."""
    n, tail = len(z_sorted), (1.0 - level) / 2.0
    # (rounded first: 20 * 0.1 is 1.9999999999999996 in floating point)
    low_rank, high_rank = int(np.floor(round((n + 1) * tail, 9))), int(np.ceil(round((n + 1) * (1.0 - tail), 9)))
    low = float(z_sorted[low_rank - 1]) if low_rank >= 1 else float("-inf")
    high = float(z_sorted[high_rank - 1]) if high_rank <= n else float("inf")
    return [low, high]


def upper_quantile(z_sorted: np.ndarray, level: float = BAND_LEVEL) -> float:
    """The one-sided split-conformal quantile of sorted scores: the ceil((n + 1) level)-th smallest."""
    rank = int(np.ceil(round((len(z_sorted) + 1) * level, 9)))
    return float(z_sorted[rank - 1]) if 1 <= rank <= len(z_sorted) else float("inf")


def band_quantile(log_h: np.ndarray, abs_move: np.ndarray, level: float = BAND_LEVEL) -> float:
    """The split-conformal quantile of z = ln((m/100)^2) - ln h such that the absolute move m stays
    below 100 sqrt(h e^z) for `level` of the sessions: the ceil((n + 1) level)-th smallest z."""
    return upper_quantile(np.sort(scores(log_h, abs_move)), level)


def recent_quantiles(recent: np.ndarray | None, level: float = float(LEVEL)) -> dict | None:
    """The quantiles a served forecast uses, from the model's scores of the last settled sessions
    after its training window (`recent_scores`, at most CALIBRATION_SESSIONS): {"interval":
    [z_low, z_high], "band_z", "n"}; None when fewer than MIN_CALIBRATION (the bundle's
    validation quantiles are used then)."""
    if recent is None:
        return None
    z = np.sort(np.asarray(recent, dtype=np.float64)[-CALIBRATION_SESSIONS:])
    if len(z) < MIN_CALIBRATION or np.isnan(z).any():
        return None
    return {"interval": interval_quantiles(z, level), "band_z": upper_quantile(z, BAND_LEVEL), "n": int(len(z))}


def warmup(record: dict) -> int:
    """Sessions before a row's longest range feature is whole (`volatility.WARMUP`, saved in the record)."""
    return int(record["serving"].get("warmup", 22))


def recent_scores(record: dict, features: np.ndarray, abs_move: np.ndarray, dates: list[str]) -> np.ndarray:
    """The learned model's scores (`scores`) of the sessions dated after its training window whose
    next move is known, oldest first, the last CALIBRATION_SESSIONS of them. `features` (D, K) in
    the record's order, `abs_move` (D,) the next session's absolute move (NaN when not yet known),
    `dates` (D,) ISO dates, a tail of the store; rows without every feature are left out, and so
    are its first `serving.warmup` rows (their longest HAR term is not whole in a tail)."""
    features = np.asarray(features, dtype=np.float64).reshape(len(dates), -1)
    after = np.array([day > record["train"]["fit_end"] for day in dates], dtype=bool)
    after[:warmup(record)] = False
    known = after & np.isfinite(features).all(axis=1) & np.isfinite(np.asarray(abs_move, dtype=np.float64))
    if not known.any():
        return np.zeros(0)
    z = scores(log_variances(record, features[known]), np.asarray(abs_move, dtype=np.float64)[known])
    return z[-CALIBRATION_SESSIONS:]


def move_ratio(log_h: np.ndarray, abs_move: np.ndarray) -> float:
    """Mean of |move| / (100 sqrt(h)): what turns the variance forecast into an expected absolute move."""
    sigma = 100.0 * np.sqrt(np.exp(np.asarray(log_h, dtype=np.float64)))
    return float(np.mean(np.asarray(abs_move, dtype=np.float64) / sigma))


def expected_fraction(move_ratio_k: float, log_h: np.ndarray | float) -> np.ndarray:
    """The expected absolute close-to-close move as a fraction, k sqrt(h), for ln h forecasts: the
    one formula behind a forecast's `pct`, the walk-forward's and a version's expected moves
    (the backtest's volatility targeting) and evaluation's mean expected move."""
    return move_ratio_k * np.sqrt(np.exp(np.asarray(log_h, dtype=np.float64)))


def risk_view(record: dict, log_h: float) -> dict:
    """The forecast's percentile among the model's training-window forecasts, and its word."""
    serving = record["serving"]
    quantiles = np.asarray(serving["risk_quantiles"], dtype=np.float64)
    percentile = float(np.interp(log_h, quantiles, np.linspace(0.0, 100.0, len(quantiles))))
    word = "Low" if percentile < RISK_BANDS[0] else ("High" if percentile > RISK_BANDS[1] else "Medium")
    train = record.get("train", {})
    basis = (f"risk is the range model's forecast of the next session's move against its forecasts over its training"
             f" window ({train.get('fit_start', '?')}..{train.get('fit_end', '?')}): Low below their 33rd percentile,"
             f" High above their 67th; realized_risk is the old figure (realized volatility over the last 20 sessions)")
    return {"risk": word, "risk_percentile": round(percentile, 1), "risk_basis": basis}


def expected_move(record: dict, row: np.ndarray | None, last_close: float | None,
                  recent: np.ndarray | None = None) -> dict | None:
    """The forecast's `expected_move` and risk fields from one session's range features; None when
    the record, the features or the last close are missing (an older bundle, a gap in the data).

    `recent`: the model's scores of the settled sessions before it (`recent_scores`); the interval
    and the band take their quantiles there (`recent_quantiles`), else from validation."""
    if not record or row is None or last_close is None or not math.isfinite(last_close) or last_close <= 0:
        return None
    row = np.asarray(row, dtype=np.float64).reshape(-1)
    if len(row) != len(record["feature_names"]) or not np.isfinite(row).all():
        return None
    log_h = log_variance(record, row)
    if not math.isfinite(log_h):
        return None
    serving = record["serving"]
    pct = 100.0 * float(expected_fraction(serving["move_ratio"], log_h))
    rolled = recent_quantiles(recent)
    (z_low, z_high), band_z = ((rolled["interval"], rolled["band_z"]) if rolled
                               else (record["intervals"][MODEL][LEVEL], serving["band_z"]))
    if not all(math.isfinite(v) for v in (z_high, band_z, pct)) or math.isnan(z_low):
        return None  # fewer validation sessions than the level needs (fit_range asks for 20: never)
    interval = [100.0 * math.sqrt(math.exp(log_h + z_low)), 100.0 * math.sqrt(math.exp(log_h + z_high))]
    band = 100.0 * math.sqrt(math.exp(log_h + band_z))  # the 80% quantile of the absolute move, %
    move = {
        "pct": round(pct, 3),
        "points": round(last_close * pct / 100.0, 1),
        "interval_pct": [round(v, 3) for v in interval],
        "range_low": round(last_close * math.exp(-band / 100.0), 2),
        "range_high": round(last_close * math.exp(band / 100.0), 2),
        "level": BAND_LEVEL,
        "calibration": (f"the model's last {rolled['n']} settled sessions" if rolled
                        else f"validation {record.get('valid', {}).get('fit_start', '?')}..{record.get('valid', {}).get('fit_end', '?')}"),
        "last_close": round(float(last_close), 2),
        "note": NOT_A_DIRECTION,
    }
    return {"expected_move": move, **risk_view(record, log_h)}


def member_log_variance(record: dict, x: np.ndarray) -> np.ndarray:
    """ln h of the members' pooled HAR record (`models.member_ranges`) for HAR features `x` (..., 3)."""
    return float(record["intercept"]) + np.asarray(x, dtype=np.float64) @ np.asarray(record["coef"], dtype=np.float64)


def member_moves(record: dict, features: np.ndarray | None, available: np.ndarray) -> list[dict | None]:
    """Per member, from its (3,) HAR features of the last session: `pct` (the expected absolute
    move in percent) and `band_pct` (the move that 80% of sessions stay within); None for a member
    without data, or for every member without a record or features."""
    available = np.asarray(available, dtype=bool).reshape(-1)
    if not record or features is None:
        return [None] * len(available)
    features = np.asarray(features, dtype=np.float64).reshape(len(available), -1)
    out: list[dict | None] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for j, row in enumerate(features):
            if not available[j] or not np.isfinite(row).all():
                out.append(None)
                continue
            log_h = float(member_log_variance(record, row))
            band = 100.0 * math.sqrt(math.exp(log_h + record["band_z"]))
            pct = 100.0 * float(expected_fraction(record["move_ratio"], log_h))
            out.append({"pct": round(pct, 3), "band_pct": round(band, 3),
                        "level": record["level"], "note": MEMBER_NOT_A_DIRECTION} if math.isfinite(band) else None)
    return out
