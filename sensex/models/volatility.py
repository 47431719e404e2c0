"""The range forecast: how much the SENSEX moves next session, with baselines, intervals and metrics.

What is forecast is ln v_{t+1}, the next session's log variance proxy (`features.ranges`:
Parkinson's range plus the squared opening gap). Every forecaster gives a log variance forecast
ln h for each row; all are fit on the training window alone, the learned one is chosen on the
validation window, and the intervals are calibrated there too, so the test window is scored once.

Forecasters (each a plain JSON record, `fit_range` -> `RangeFit.portable`, applied by `predict`):

- `model`: the project's learned forecaster, a ridge regression of ln v_{t+1} on every feature of
  `features.ranges` (HAR terms, leverage, the members' median range, dispersion, days ahead and,
  pre-open, the overnight S&P 500), standardized with the training window's mean and standard
  deviation; the penalty is chosen by validation QLIKE among `RIDGE_ALPHAS`. A linear model on
  log features: its coefficients apply in numpy, and export to ONNX as one MatMul + Add.
- `har`: the three-term HAR regression (Corsi 2009) of ln v_{t+1} on ln v over 1, 5 and 22
  sessions, least squares: the baseline to beat. Pre-open also `har_sp500`, HAR plus the three
  S&P 500 terms, least squares.
- `ewma`: RiskMetrics, sigma^2_{t+1} = 0.94 sigma^2_t + 0.06 r_t^2 on close-to-close returns.
- `garch`: GARCH(1,1) with a constant mean, estimated by the `arch` package (Gaussian
  quasi-likelihood) on the training window's returns; its variance recursion then runs over every
  session with those parameters (each forecast uses returns up to t only).
- `mean5`, `mean22`, `yesterday`: the mean of v over the last 5 and 22 sessions, and v_t.

Each forecaster's ln h gets an intercept fit on the training window: the constant that
minimises its training QLIKE, ln mean(v / h) (for the regressions, Duan's smearing correction:
a least-squares fit in logs forecasts the median, QLIKE asks for the mean).

Intervals: a central 80% and 90% interval for the session's absolute close-to-close move in
percent, conformal. The score of a session is z = ln(m^2) - ln h (m its absolute move); each tail
takes its own conformal quantile, so the interval is 100 * sqrt(h * exp([z_low, z_high])). The
quantiles roll (`rolling_quantiles`): a session's come from the scores of the last 250 settled
sessions after the training window, which at the end of training are the validation sessions,
so a forecast made a year after training is calibrated on that year, not on validation. A fixed
validation year under-covered 2019-2021 (80%: 0.766 close, 0.751 pre-open; 2021 alone 0.736):
exchangeability fails across volatility regimes, and a sliding calibration window is the usual
remedy (Barber, Candes, Ramdas and Tibshirani 2023, "Conformal prediction beyond
exchangeability"). `portable["intervals"]` keeps the validation quantiles: the fallback where
fewer than 20 settled sessions are known.

Metrics (`score_forecasts`), on the same rows for every forecaster:
QLIKE = mean(v/h - ln(v/h) - 1) (Patton 2011: robust to the proxy's noise, 0 for a perfect
forecast), the MSE of ln v, the Mincer-Zarnowitz R^2 (of ln v regressed on ln h), the coverage
of both intervals, and the AUC of a big-move session (absolute return above the training
window's median) ranked by h. Each has a 90% moving-block bootstrap interval, and each baseline a
paired bootstrap interval of the model's gain over it (same rows, same resamples).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sensex.core.errors import DataError
from sensex.features.ranges import HAR_FEATURE_NAMES, PREOPEN_FEATURE_NAMES, RangeData
from sensex.models.evaluate import roc_auc
from sensex.models.range_portable import (
    BAND_LEVEL,
    CALIBRATION_SESSIONS,
    MIN_CALIBRATION,
    interval_quantiles,
    scores,
    upper_quantile,
)

BASELINES = ("har", "ewma", "garch", "mean5", "mean22", "yesterday")
PREOPEN_BASELINES = ("har_sp500",)
MODEL = "model"
EWMA_LAMBDA = 0.94
RIDGE_ALPHAS = (1.0, 10.0, 100.0, 1000.0)  # on standardized features: X'X is about n times their correlation
LEVELS = (0.8, 0.9)
WARMUP = 22  # sessions before a row's longest HAR term is whole
MEAN_COLUMNS = {"mean5": "log_var_5", "mean22": "log_var_22", "yesterday": "log_var_1"}
BOOT, BLOCK, CONFIDENCE = 1000, 10, 0.9
SCORES = ("qlike", "mse_log", "r2", "big_move_auc")  # compared pairwise; coverage is judged against its level
LOWER_IS_BETTER = {"qlike", "mse_log"}


# --- metrics ----------------------------------------------------------------------------------

def qlike(log_v: np.ndarray, log_h: np.ndarray) -> float:
    """mean(v/h - ln(v/h) - 1) from log variances: 0 when h = v, larger the worse."""
    d = np.asarray(log_v, dtype=np.float64) - np.asarray(log_h, dtype=np.float64)
    return float(np.mean(np.exp(d) - d - 1.0)) if len(d) else float("nan")


def mse_log(log_v: np.ndarray, log_h: np.ndarray) -> float:
    d = np.asarray(log_v, dtype=np.float64) - np.asarray(log_h, dtype=np.float64)
    return float(np.mean(d**2)) if len(d) else float("nan")


def mz_r2(log_v: np.ndarray, log_h: np.ndarray) -> float:
    """Mincer-Zarnowitz R^2: of the regression ln v = a + b ln h (the squared correlation)."""
    log_v, log_h = np.asarray(log_v, dtype=np.float64), np.asarray(log_h, dtype=np.float64)
    if len(log_v) < 3 or np.std(log_h) == 0 or np.std(log_v) == 0:
        return float("nan")
    return float(np.corrcoef(log_v, log_h)[0, 1] ** 2)


def coverage(bounds: np.ndarray, move: np.ndarray) -> float:
    """Share of sessions whose absolute move lies within [low, high] (both in percent)."""
    bounds, move = np.atleast_2d(bounds), np.asarray(move, dtype=np.float64)
    if len(move) == 0:
        return float("nan")
    return float(np.mean((move >= bounds[:, 0]) & (move <= bounds[:, 1])))


def range_metrics(log_v: np.ndarray, log_h: np.ndarray, big_move: np.ndarray,
                  covered: dict[float, np.ndarray] | None = None) -> dict[str, float]:
    """Every metric of one forecaster on one set of rows; `covered` {level: (N,) bool in interval}."""
    out = {"qlike": qlike(log_v, log_h), "mse_log": mse_log(log_v, log_h), "r2": mz_r2(log_v, log_h),
           "big_move_auc": roc_auc(np.asarray(big_move, dtype=int), log_h)}
    for level, inside in (covered or {}).items():
        out[f"coverage_{round(level * 100)}"] = float(np.mean(inside)) if len(inside) else float("nan")
    return out


def block_indices(n: int, n_boot: int = BOOT, block: int = BLOCK, seed: int = 0) -> list[np.ndarray]:
    """Moving-block bootstrap resamples of n rows, drawn as `models.evaluate` draws them."""
    if n < 2 * block:
        return []
    rng = np.random.default_rng(seed)
    n_blocks = int(np.ceil(n / block))
    return [(rng.integers(0, n - block + 1, n_blocks)[:, None] + np.arange(block)[None, :]).ravel()[:n]
            for _ in range(n_boot)]


def _interval(samples: list[float], level: float = CONFIDENCE) -> list[float]:
    if not samples:
        return [float("nan"), float("nan")]
    lo, hi = (1 - level) / 2, 1 - (1 - level) / 2
    return [float(np.nanquantile(samples, lo)), float(np.nanquantile(samples, hi))]


def score_forecasts(
    label: np.ndarray, abs_move: np.ndarray, big_threshold: float | np.ndarray,
    forecasts: dict[str, np.ndarray], bounds: dict[str, dict[float, np.ndarray]] | None = None,
    model: str = MODEL, n_boot: int = BOOT, block: int = BLOCK, seed: int = 0,
) -> dict:
    """The `range` record of `sensex evaluate --json`: the model's metrics with bootstrap
    intervals, and every other forecaster's beside it on the same rows, each with the model's
    paired gain over it ([point, low, high]: positive = the model is better, for every metric).

    `label` (N,) ln v; `abs_move` (N,) absolute move in percent; `big_threshold` the training
    median of the absolute move (a scalar, or per row when rows come from several fits);
    `forecasts` {name: (N,) ln h}; `bounds` {name: {level: (N, 2)}} in percent.
    """
    label, abs_move = np.asarray(label, dtype=np.float64), np.asarray(abs_move, dtype=np.float64)
    big = (abs_move > np.asarray(big_threshold, dtype=np.float64)).astype(int)
    bounds = bounds or {}
    covered = {name: {level: (abs_move >= b[:, 0]) & (abs_move <= b[:, 1]) for level, b in bounds.get(name, {}).items()}
               for name in forecasts}
    resamples = block_indices(len(label), n_boot, block, seed)

    def each(name: str, idx: np.ndarray | None = None) -> dict[str, float]:
        pick = slice(None) if idx is None else idx
        return range_metrics(label[pick], forecasts[name][pick], big[pick],
                             {lv: c[pick] for lv, c in covered[name].items()})

    samples = {name: [each(name, idx) for idx in resamples] for name in forecasts}

    def summary(name: str) -> dict:
        point = each(name)
        intervals = {k: _interval([s[k] for s in samples[name]]) for k in point}
        return {**point, "n": int(len(label)), "intervals": intervals}

    out: dict = {"n": int(len(label)), "big_move_share": float(big.mean()) if len(big) else float("nan"),
                 "metrics": summary(model), "baselines": {}}
    base_point = out["metrics"]
    for name in forecasts:
        if name == model:
            continue
        record = summary(name)
        gains = {}
        for key in SCORES:
            sign = 1.0 if key in LOWER_IS_BETTER else -1.0  # gain = how much better the model does
            point = sign * (record[key] - base_point[key])
            gains[key] = [float(point), *_interval([sign * (b[key] - m[key]) for b, m in zip(samples[name], samples[model], strict=True)])]
        record["model_gain"] = gains
        out["baselines"][name] = record
    for level in LEVELS:
        key = f"coverage_{round(level * 100)}"
        out[key] = base_point.get(key, float("nan"))
    out["bootstrap"] = {"resamples": len(resamples), "block": block, "level": CONFIDENCE, "seed": seed}
    return out


# --- forecasters ------------------------------------------------------------------------------

def qlike_intercept(label: np.ndarray, log_h: np.ndarray) -> float:
    """The constant c minimising QLIKE of ln h + c against `label`: ln mean(v / h)."""
    d = np.asarray(label, dtype=np.float64) - np.asarray(log_h, dtype=np.float64)
    top = np.max(d)
    return float(top + np.log(np.mean(np.exp(d - top))))


def ewma_log_variance(ret: np.ndarray, lam: float = EWMA_LAMBDA) -> np.ndarray:
    """(D,) ln sigma^2_{t+1|t} of RiskMetrics on the returns up to t, started at the first return squared."""
    ret = np.asarray(ret, dtype=np.float64)
    out = np.full(len(ret), np.nan)
    sigma2 = np.nan
    for t, r in enumerate(ret):
        if np.isfinite(r):
            sigma2 = r * r if not np.isfinite(sigma2) else lam * sigma2 + (1.0 - lam) * r * r
        out[t] = sigma2
    with np.errstate(divide="ignore"):
        return np.log(out)


def fit_garch(ret: np.ndarray, rows: np.ndarray) -> dict:
    """GARCH(1,1) parameters by `arch` on the returns of `rows` (percent returns, constant mean)."""
    from arch import arch_model

    sample = 100.0 * np.asarray(ret, dtype=np.float64)[rows]
    sample = sample[np.isfinite(sample)]
    if len(sample) < 100:
        raise DataError(f"GARCH(1,1) needs at least 100 training returns, not {len(sample)}.")
    fitted = arch_model(sample, mean="Constant", vol="GARCH", p=1, q=1, dist="normal", rescale=False).fit(disp="off")
    params = fitted.params
    return {"mu": float(params["mu"]), "omega": float(params["omega"]), "alpha": float(params["alpha[1]"]),
            "beta": float(params["beta[1]"]), "start_variance": float(np.var(sample)), "n": int(len(sample))}


def garch_log_variance(ret: np.ndarray, params: dict) -> np.ndarray:
    """(D,) ln of GARCH(1,1)'s variance of r_{t+1} given returns up to t (fraction^2 units).

    The recursion starts at the training sample's variance on the first session; a missing
    return leaves the variance to the recursion's expectation (omega + (alpha + beta) h)."""
    ret = 100.0 * np.asarray(ret, dtype=np.float64)
    mu, omega, alpha, beta = params["mu"], params["omega"], params["alpha"], params["beta"]
    out = np.empty(len(ret))
    h = params["start_variance"]
    for t, r in enumerate(ret):
        eps2 = (r - mu) ** 2 if np.isfinite(r) else h
        h = omega + alpha * eps2 + beta * h
        out[t] = h
    return np.log(out / 1e4)


@dataclass
class LinearForecast:
    """ln h = intercept + coef . ((x - center) / scale) + log_scale, on named features."""

    feature_names: list[str]
    center: list[float]
    scale: list[float]
    coef: list[float]
    intercept: float
    log_scale: float = 0.0  # the QLIKE intercept (smearing) fit on the training window
    alpha: float = 0.0  # ridge penalty on the standardized features; 0: least squares
    fit_start: str | None = None  # the training window every number here was fit on
    fit_end: str | None = None
    n: int = 0

    def predict(self, features: np.ndarray, names: list[str], with_log_scale: bool = True) -> np.ndarray:
        x = np.asarray(features, dtype=np.float64)[:, [names.index(f) for f in self.feature_names]]
        z = (x - np.asarray(self.center)) / np.asarray(self.scale)
        return self.intercept + z @ np.asarray(self.coef) + (self.log_scale if with_log_scale else 0.0)

    def to_dict(self) -> dict:
        return {"kind": "linear", **{k: getattr(self, k) for k in self.__dataclass_fields__}}

    @classmethod
    def from_dict(cls, record: dict) -> LinearForecast:
        return cls(**{k: v for k, v in record.items() if k in cls.__dataclass_fields__})


def fit_linear(data: RangeData, rows: np.ndarray, names: list[str], alpha: float = 0.0) -> LinearForecast:
    """Ridge (alpha > 0) or least squares of the label on `names`, standardized on `rows`; the
    intercept is not penalized; then the QLIKE intercept on the same rows."""
    x = data.features[np.ix_(rows, [data.feature_names.index(f) for f in names])]
    y = data.label[rows]
    center, scale = x.mean(axis=0), x.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    z = (x - center) / scale
    gram = z.T @ z + alpha * np.eye(len(names))
    coef = np.linalg.solve(gram, z.T @ (y - y.mean())) if alpha > 0 else np.linalg.lstsq(z, y - y.mean(), rcond=None)[0]
    model = LinearForecast(feature_names=list(names), center=center.tolist(), scale=scale.tolist(), coef=coef.tolist(),
                           intercept=float(y.mean()), alpha=float(alpha), n=int(len(rows)),
                           fit_start=str(data.dates[rows[0]].date()), fit_end=str(data.dates[rows[-1]].date()))
    model.log_scale = qlike_intercept(y, model.predict(data.features[rows], data.feature_names))
    return model


def raw_log_forecast(name: str, record: dict, data: RangeData) -> np.ndarray:
    """(D,) ln h of one forecaster before its QLIKE intercept (`log_scale`)."""
    kind = record["kind"]
    if kind == "linear":
        return LinearForecast.from_dict(record).predict(data.features, data.feature_names, with_log_scale=False)
    if kind == "ewma":
        return ewma_log_variance(data.ret, record["lambda"])
    if kind == "garch":
        return garch_log_variance(data.ret, record["params"])
    if kind == "column":
        return data.column(record["column"]).copy()
    raise ValueError(f"Unknown range forecaster kind {kind!r} for {name}.")


def predict(portable: dict, data: RangeData) -> dict[str, np.ndarray]:
    """{forecaster: (D,) ln h} for every forecaster of a fitted record (`RangeFit.portable`)."""
    return {name: raw_log_forecast(name, record, data) + record["log_scale"]
            for name, record in portable["forecasters"].items()}


# --- intervals --------------------------------------------------------------------------------

def calibrate_moves(log_h: np.ndarray, abs_move: np.ndarray, levels: tuple[float, ...] = LEVELS) -> dict:
    """{level: [z_low, z_high]}: split-conformal quantiles of z = ln((m/100)^2) - ln h, one per
    tail (`range_portable.interval_quantiles`)."""
    z = np.sort(scores(log_h, abs_move))
    return {str(level): interval_quantiles(z, level) for level in levels}


def rolling_quantiles(z: np.ndarray, rows: np.ndarray, first: int, levels: tuple[float, ...] = LEVELS,
                      sessions: int = CALIBRATION_SESSIONS) -> tuple[dict[float, np.ndarray], np.ndarray, np.ndarray]:
    """Per row t of `rows`, the conformal quantiles from the scores `z` (D,) of the last `sessions`
    settled rows s with first <= s < t (row s is settled once session s + 1 has closed, which is
    before row t is forecast; NaN scores are left out): ({level: (N, 2) [z_low, z_high]},
    (N,) one-sided band quantile, (N,) how many scores). What a served forecast computes from
    its inputs (`range_portable.recent_quantiles`); rows with fewer than MIN_CALIBRATION get NaN."""
    rows = np.asarray(rows, dtype=int)
    known = np.flatnonzero(~np.isnan(z))
    known = known[known >= first]
    out = {level: np.full((len(rows), 2), np.nan) for level in levels}
    band, counts = np.full(len(rows), np.nan), np.zeros(len(rows), dtype=int)
    ends = np.searchsorted(known, rows, side="left")  # scores strictly before t
    for i, end in enumerate(ends):
        past = np.sort(z[known[max(0, end - sessions):end]])
        counts[i] = len(past)
        if len(past) < MIN_CALIBRATION:
            continue
        for level in levels:
            out[level][i] = interval_quantiles(past, level)
        band[i] = upper_quantile(past, BAND_LEVEL)
    return out, band, counts


def move_bounds(log_h: np.ndarray, z: list[float]) -> np.ndarray:
    """(N, 2) the interval of the absolute move in percent for forecasts ln h and quantiles z."""
    log_h = np.asarray(log_h, dtype=np.float64)
    return np.column_stack([100.0 * np.sqrt(np.exp(log_h + z[0])), 100.0 * np.sqrt(np.exp(log_h + z[1]))])


# --- fitting ----------------------------------------------------------------------------------

@dataclass
class RangeFit:
    portable: dict  # {"forecasters": {name: record}, "intervals": {name: {level: [z_low, z_high]}}, ...}
    candidates: dict[str, float] = field(default_factory=dict)  # validation QLIKE of each learned candidate
    chosen: str = ""

    def forecasts(self, data: RangeData) -> dict[str, np.ndarray]:
        return predict(self.portable, data)

    def first_after_training(self, data: RangeData) -> int:
        """The position of the first session after the fit's training window: where its
        out-of-sample scores, and so the rolling calibration, start."""
        return int(np.searchsorted(data.dates, pd.Timestamp(self.portable["train"]["fit_end"]), side="right"))

    def bounds(self, data: RangeData, forecasts: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, dict[float, np.ndarray]]:
        """{name: {level: (N, 2)}} each forecaster's interval of the absolute move on `rows`, in
        percent, calibrated as a served forecast is: on its own scores of the last
        CALIBRATION_SESSIONS settled sessions after training (`rolling_quantiles`); where fewer
        than MIN_CALIBRATION are known, on the validation window (`portable["intervals"]`)."""
        rows, first = np.asarray(rows, dtype=int), self.first_after_training(data)
        out = {}
        for name, fixed in self.portable["intervals"].items():
            rolled, _, _ = rolling_quantiles(scores(forecasts[name], data.next_abs_move), rows, first)
            out[name] = {}
            for level, z in rolled.items():
                z = np.where(np.isnan(z), np.asarray(fixed[str(level)], dtype=np.float64), z)
                out[name][float(level)] = 100.0 * np.sqrt(np.exp(forecasts[name][rows][:, None] + z))
        return out

    def band(self, data: RangeData, log_h: np.ndarray, rows: np.ndarray, validation_z: float) -> np.ndarray:
        """(N,) the learned model's one-sided 80% band of the absolute move on `rows`, in percent,
        rolling like `bounds` (`validation_z`, the bundle's `serving.band_z`, where too few scores are known)."""
        rows = np.asarray(rows, dtype=int)
        _, band_z, _ = rolling_quantiles(scores(log_h, data.next_abs_move), rows, self.first_after_training(data))
        band_z = np.where(np.isnan(band_z), validation_z, band_z)
        return 100.0 * np.sqrt(np.exp(log_h[rows] + band_z))


def forecastable(data: RangeData) -> np.ndarray:
    """(D,) rows every forecaster can be scored on: a label, every feature, a whole HAR window."""
    usable = data.usable() & np.isfinite(data.ret)
    usable[:WARMUP] = False
    return usable


def fit_range(data: RangeData, train: np.ndarray, valid: np.ndarray) -> RangeFit:
    """Fit every forecaster on `train`, choose the learned one and calibrate every interval on
    `valid` (positions in data.dates; rows that are not `forecastable` are dropped)."""
    ok = forecastable(data)
    train, valid = np.asarray(train)[ok[train]], np.asarray(valid)[ok[valid]]
    if len(train) < 250 or len(valid) < 20:
        raise DataError(f"The range forecast needs 250 training and 20 validation sessions; it has {len(train)} and {len(valid)}.")
    window = {"fit_start": str(data.dates[train[0]].date()), "fit_end": str(data.dates[train[-1]].date()), "n": int(len(train))}
    records: dict[str, dict] = {}
    candidates: dict[str, float] = {}
    learned: dict[str, dict] = {}
    for alpha in RIDGE_ALPHAS:
        record = fit_linear(data, train, data.feature_names, alpha).to_dict()
        name = f"ridge_{alpha:g}"
        learned[name] = record
        candidates[name] = qlike(data.label[valid], raw_log_forecast(name, record, data)[valid] + record["log_scale"])
    chosen = min(candidates, key=candidates.get)
    records[MODEL] = {**learned[chosen], "candidate": chosen}
    records["har"] = fit_linear(data, train, HAR_FEATURE_NAMES).to_dict()
    if all(f in data.feature_names for f in PREOPEN_FEATURE_NAMES):
        records["har_sp500"] = fit_linear(data, train, [*HAR_FEATURE_NAMES, *PREOPEN_FEATURE_NAMES]).to_dict()
    records["ewma"] = {"kind": "ewma", "lambda": EWMA_LAMBDA, **window}
    records["garch"] = {"kind": "garch", "params": fit_garch(data.ret, train), **window}
    for name, column in MEAN_COLUMNS.items():
        records[name] = {"kind": "column", "column": column, **window}
    for name, record in records.items():
        if record["kind"] != "linear":  # the regressions have theirs (`fit_linear`)
            record["log_scale"] = qlike_intercept(data.label[train], raw_log_forecast(name, record, data)[train])
    portable = {"forecasters": records, "target": "ln(Parkinson variance + squared opening gap) of the next session",
                "mode": data.mode, "feature_names": list(data.feature_names), "train": window,
                "big_move_threshold": float(np.median(data.next_abs_move[train])),
                "valid": {"fit_start": str(data.dates[valid[0]].date()), "fit_end": str(data.dates[valid[-1]].date()),
                          "n": int(len(valid))}}
    fit = RangeFit(portable=portable, candidates=candidates, chosen=chosen)
    log_h = fit.forecasts(data)
    portable["intervals"] = {name: calibrate_moves(log_h[name][valid], data.next_abs_move[valid]) for name in records}
    return fit


def date_rows(data: RangeData, start: str | pd.Timestamp | None, end: str | pd.Timestamp) -> np.ndarray:
    """Positions of `forecastable` rows dated in [start, end] (start None: from the first)."""
    inside = data.dates <= pd.Timestamp(end)
    if start is not None:
        inside &= data.dates >= pd.Timestamp(start)
    return np.flatnonzero(inside & forecastable(data))


def evaluate_range(data: RangeData, fit: RangeFit, rows: np.ndarray, seed: int = 0, n_boot: int = BOOT) -> dict:
    """`score_forecasts` of a fit on `rows` of `data` (rows that are not `forecastable` dropped)."""
    rows = np.asarray(rows)[forecastable(data)[rows]]
    log_h = fit.forecasts(data)
    return score_forecasts(data.label[rows], data.next_abs_move[rows], fit.portable["big_move_threshold"],
                           {name: values[rows] for name, values in log_h.items()}, fit.bounds(data, log_h, rows),
                           seed=seed, n_boot=n_boot)
