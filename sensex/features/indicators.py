"""Per-stock indicators from TA-Lib: the feature registry.

Every indicator is scale-free (a ratio, a bounded oscillator or a return), so one scaler can
serve all members. Each spec names its family and warm-up (sessions before the value is
defined); the list is logged with every run and saved with the model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import talib


class _Unwrapped:
    """TA-Lib's functions without the wrapper TA-Lib puts around each one so that it accepts pandas
    and polars Series: the wrapper inspects every argument on every call (1,260 calls in one
    forecast), and every input here is a float64 numpy array already, which it passes on as is."""

    def __getattr__(self, name: str):
        function = getattr(talib, name)
        function = getattr(function, "__wrapped__", function)
        setattr(self, name, function)  # looked up once
        return function


ta = _Unwrapped()

Series = dict[str, np.ndarray]  # open, high, low, close, adj_close, volume as float64 arrays


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    family: str
    warmup: int
    compute: Callable[[Series], np.ndarray]


def _log_return(x: np.ndarray, periods: int) -> np.ndarray:
    out = np.full_like(x, np.nan)
    out[periods:] = np.log(x[periods:] / x[:-periods])
    return out


def _rolling_std(x: np.ndarray, n: int) -> np.ndarray:
    return ta.STDDEV(x, timeperiod=n, nbdev=1.0)


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return a / b - 1.0


def _obv_slope(s: Series, n: int = 10) -> np.ndarray:
    obv = ta.OBV(s["close"], s["volume"])
    change = np.full_like(obv, np.nan)
    change[n:] = obv[n:] - obv[:-n]
    mean_volume = ta.SMA(s["volume"], timeperiod=n)
    with np.errstate(divide="ignore", invalid="ignore"):
        return change / (n * mean_volume)


def _volume_z(s: Series, n: int = 20) -> np.ndarray:
    v = np.log1p(s["volume"])
    with np.errstate(divide="ignore", invalid="ignore"):
        return (v - ta.SMA(v, timeperiod=n)) / ta.STDDEV(v, timeperiod=n)


def _close_location(s: Series) -> np.ndarray:
    span = s["high"] - s["low"]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(span > 0, (s["close"] - s["low"]) / span - 0.5, 0.0)


def _gap(s: Series) -> np.ndarray:
    out = np.full_like(s["open"], np.nan)
    out[1:] = np.log(s["open"][1:] / s["close"][:-1])
    return out


def _bollinger(s: Series, which: str) -> np.ndarray:
    upper, middle, lower = ta.BBANDS(s["close"], timeperiod=20, nbdevup=2, nbdevdn=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        if which == "pctb":
            return (s["close"] - lower) / (upper - lower) - 0.5
        return (upper - lower) / middle


def _macd(s: Series, part: int) -> np.ndarray:
    parts = ta.MACD(s["close"], fastperiod=12, slowperiod=26, signalperiod=9)
    return parts[part] / s["close"]


def _stoch(s: Series, part: int) -> np.ndarray:
    k, d = ta.STOCH(s["high"], s["low"], s["close"], fastk_period=14, slowk_period=3, slowd_period=3)
    return (k, d)[part] / 100.0 - 0.5


def _specs() -> list[FeatureSpec]:
    specs: list[FeatureSpec] = []
    add = specs.append
    for n in (1, 2, 5, 10, 20, 60):
        add(FeatureSpec(f"ret_{n}", "returns", n, lambda s, n=n: _log_return(s["adj_close"], n)))
    for n in (5, 10, 20, 50):
        add(FeatureSpec(f"sma_ratio_{n}", "moving_average", n - 1,
                        lambda s, n=n: _ratio(s["close"], ta.SMA(s["close"], timeperiod=n))))
    for n in (5, 12, 26, 50):
        add(FeatureSpec(f"ema_ratio_{n}", "moving_average", n - 1,
                        lambda s, n=n: _ratio(s["close"], ta.EMA(s["close"], timeperiod=n))))
    add(FeatureSpec("sma_5_20_cross", "moving_average", 19,
                    lambda s: _ratio(ta.SMA(s["close"], timeperiod=5), ta.SMA(s["close"], timeperiod=20))))
    for n in (7, 14):
        add(FeatureSpec(f"rsi_{n}", "oscillator", n, lambda s, n=n: ta.RSI(s["close"], timeperiod=n) / 100.0 - 0.5))
    add(FeatureSpec("macd", "macd", 33, lambda s: _macd(s, 0)))
    add(FeatureSpec("macd_signal", "macd", 33, lambda s: _macd(s, 1)))
    add(FeatureSpec("macd_hist", "macd", 33, lambda s: _macd(s, 2)))
    add(FeatureSpec("bb_pctb", "bollinger", 19, lambda s: _bollinger(s, "pctb")))
    add(FeatureSpec("bb_width", "bollinger", 19, lambda s: _bollinger(s, "width")))
    for n in (7, 14):
        add(FeatureSpec(f"natr_{n}", "volatility", n,
                        lambda s, n=n: ta.NATR(s["high"], s["low"], s["close"], timeperiod=n) / 100.0))
    add(FeatureSpec("adx_14", "trend", 27, lambda s: ta.ADX(s["high"], s["low"], s["close"], timeperiod=14) / 100.0))
    add(FeatureSpec("plus_di_14", "trend", 14, lambda s: ta.PLUS_DI(s["high"], s["low"], s["close"], timeperiod=14) / 100.0))
    add(FeatureSpec("minus_di_14", "trend", 14, lambda s: ta.MINUS_DI(s["high"], s["low"], s["close"], timeperiod=14) / 100.0))
    add(FeatureSpec("aroon_osc_14", "trend", 14, lambda s: ta.AROONOSC(s["high"], s["low"], timeperiod=14) / 100.0))
    add(FeatureSpec("linreg_slope_20", "trend", 19,
                    lambda s: ta.LINEARREG_SLOPE(s["close"], timeperiod=20) / s["close"]))
    for n in (14, 20):
        add(FeatureSpec(f"cci_{n}", "oscillator", n - 1,
                        lambda s, n=n: ta.CCI(s["high"], s["low"], s["close"], timeperiod=n) / 100.0))
    add(FeatureSpec("mfi_14", "volume", 14,
                    lambda s: ta.MFI(s["high"], s["low"], s["close"], s["volume"], timeperiod=14) / 100.0 - 0.5))
    add(FeatureSpec("stoch_k", "oscillator", 17, lambda s: _stoch(s, 0)))
    add(FeatureSpec("stoch_d", "oscillator", 19, lambda s: _stoch(s, 1)))
    add(FeatureSpec("willr_14", "oscillator", 13,
                    lambda s: ta.WILLR(s["high"], s["low"], s["close"], timeperiod=14) / 100.0 + 0.5))
    add(FeatureSpec("ult_osc", "oscillator", 28,
                    lambda s: ta.ULTOSC(s["high"], s["low"], s["close"]) / 100.0 - 0.5))
    add(FeatureSpec("roc_10", "momentum", 10, lambda s: ta.ROC(s["close"], timeperiod=10) / 100.0))
    add(FeatureSpec("mom_10", "momentum", 10, lambda s: ta.MOM(s["close"], timeperiod=10) / s["close"]))
    add(FeatureSpec("obv_slope_10", "volume", 10, _obv_slope))
    for n in (10, 20, 60):
        add(FeatureSpec(f"realized_vol_{n}", "volatility", n,
                        lambda s, n=n: _rolling_std(_log_return(s["adj_close"], 1), n)))
    add(FeatureSpec("range", "range", 0, lambda s: (s["high"] - s["low"]) / s["close"]))
    add(FeatureSpec("gap", "range", 1, _gap))
    add(FeatureSpec("close_location", "range", 0, _close_location))
    add(FeatureSpec("volume_z_20", "volume", 20, _volume_z))
    add(FeatureSpec("volume_ratio_5_20", "volume", 19,
                    lambda s: _ratio(ta.SMA(s["volume"], timeperiod=5), ta.SMA(s["volume"], timeperiod=20))))
    return specs


STOCK_FEATURES: list[FeatureSpec] = _specs()
STOCK_FEATURE_NAMES: list[str] = [f.name for f in STOCK_FEATURES]
MAX_WARMUP: int = max(f.warmup for f in STOCK_FEATURES)


def compute_stock_features(series: Series) -> np.ndarray:
    """(D, F) indicator matrix for one stock; NaN during warm-up and where inputs are missing."""
    columns = []
    for spec in STOCK_FEATURES:
        values = np.asarray(spec.compute(series), dtype=np.float64)
        values[~np.isfinite(values)] = np.nan
        columns.append(values)
    return np.column_stack(columns)  # (D, F)


def registry_table() -> list[dict]:
    return [{"name": f.name, "family": f.family, "warmup": f.warmup} for f in STOCK_FEATURES]
