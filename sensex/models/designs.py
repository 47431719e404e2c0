"""The baselines' inputs, computed from a panel with numpy alone.

Training fits the baselines on these designs and serving applies the saved baselines to the
same designs (`sensex.models.portable`), so both read one definition and the serving process
needs neither torch nor scikit-learn.
"""

from __future__ import annotations

import warnings

import numpy as np

from sensex.features.build import Panel


def index_design(panel: Panel) -> np.ndarray:
    """(D, 13): index log returns at lags 0..9, realized vol over 5 and 20 sessions, day range."""
    log_close = np.log(panel.index_close)
    ret = np.concatenate([[np.nan], np.diff(log_close)])
    lags = [np.concatenate([np.full(k, np.nan), ret[: len(ret) - k]]) for k in range(10)]

    def rolling_std(x: np.ndarray, n: int) -> np.ndarray:
        out = np.full_like(x, np.nan)
        if len(x) >= n:
            windows = np.lib.stride_tricks.sliding_window_view(x, n)
            out[n - 1 :] = windows.std(axis=1)
        return out

    day_range = panel.market[:, panel.market_feature_names.index("index_range")]
    return np.column_stack(lags + [rolling_std(ret, 5), rolling_std(ret, 20), day_range])


def latest_session_design(panel: Panel) -> np.ndarray:
    """(D, F + M): member-averaged stock indicators (available members only) and market context.

    NaN where no member is available; the trees route missing values themselves.
    """
    stock = np.where(panel.available[:, :, None], panel.stock, np.nan)  # (D, S, F)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # sessions with no member: NaN on purpose
        member_mean = np.nanmean(stock, axis=1)  # (D, F)
    return np.column_stack([member_mean, panel.market])


def realized_volatility(panel: Panel, sessions: int = 20) -> np.ndarray:
    """(D,) annualized standard deviation of the index's daily log returns over the last
    `sessions` sessions (NaN before enough history): what `risk` is based on."""
    ret = np.concatenate([[np.nan], np.diff(np.log(panel.index_close))])
    out = np.full(len(ret), np.nan)
    if len(ret) >= sessions:
        out[sessions - 1 :] = np.lib.stride_tricks.sliding_window_view(ret, sessions).std(axis=1, ddof=1)
    return out * np.sqrt(252.0)
