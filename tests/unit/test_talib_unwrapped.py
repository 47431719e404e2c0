"""The features call TA-Lib's functions without TA-Lib's pandas/polars wrapper (`indicators.ta`):
on float64 numpy arrays the answers must be the wrapped functions' own, to the bit."""

import numpy as np
import talib

from sensex.features.indicators import STOCK_FEATURES, compute_stock_features, ta


def test_unwrapped_functions_answer_exactly_as_talib_does():
    rng = np.random.default_rng(3)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 300)))
    high, low = close * 1.01, close * 0.99
    volume = rng.uniform(1e5, 1e6, 300)
    for name, args, kwargs in [("SMA", (close,), {"timeperiod": 20}), ("RSI", (close,), {"timeperiod": 14}),
                               ("ADX", (high, low, close), {"timeperiod": 14}), ("MFI", (high, low, close, volume), {}),
                               ("MACD", (close,), {})]:
        mine, theirs = getattr(ta, name)(*args, **kwargs), getattr(talib, name)(*args, **kwargs)
        np.testing.assert_array_equal(mine, theirs, err_msg=name)
    assert ta.SMA is not talib.SMA or not hasattr(talib.SMA, "__wrapped__")  # the wrapper is really skipped


def test_every_stock_feature_is_computed_from_numpy_arrays():
    rng = np.random.default_rng(4)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 300)))
    series = {"open": close, "high": close * 1.01, "low": close * 0.99, "close": close, "adj_close": close,
              "volume": rng.uniform(1e5, 1e6, 300)}
    features = compute_stock_features(series)
    assert features.shape == (300, len(STOCK_FEATURES))
    assert np.isfinite(features[-1]).all()  # after every warm-up, every feature has a value
