"""Model inputs: scaled panels and 60-session windows of shape (T, S, C).

Channels C are the stock indicators, then the market context (the same for every member),
then one availability channel: 1 where the member traded and its indicators are defined,
0 where it did not; such cells are 0 in every other channel, and the mask says why.
The scaler is fit on the training window alone and saved with the model as plain JSON.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

from sensex.core.errors import DataError

if TYPE_CHECKING:  # the scaler is read by serving, which need not import TA-Lib (or pandas) for a cached window
    import pandas as pd

    from sensex.features.build import Panel


@dataclass(frozen=True)
class Scaler:
    fit_start: str  # first and last session whose values were used to fit
    fit_end: str
    clip: float
    stock_mean: list[float]
    stock_std: list[float]
    market_mean: list[float]
    market_std: list[float]
    stock_feature_names: list[str]
    market_feature_names: list[str]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> Scaler:
        return cls(**json.loads(text))

    @property
    def n_channels(self) -> int:
        return len(self.stock_mean) + len(self.market_mean) + 1


def fit_scaler(panel: Panel, fit_start: pd.Timestamp, fit_end: pd.Timestamp, clip: float = 5.0) -> Scaler:
    """Mean and std of each feature over sessions in [fit_start, fit_end] only."""
    rows = (panel.dates >= fit_start) & (panel.dates <= fit_end)
    if rows.sum() < 2:
        raise DataError(f"No sessions between {fit_start.date()} and {fit_end.date()} to fit the scaler on.")
    stock = panel.stock[rows]  # (d, S, F)
    valid = panel.available[rows]  # (d, S)
    values = stock[valid]  # (n, F)
    if len(values) == 0:
        raise DataError("Every stock indicator is undefined in the training window: store more history.")
    market = panel.market[rows]
    stock_std = np.nanstd(values, axis=0)
    market_std = np.nanstd(market, axis=0)
    return Scaler(
        fit_start=str(panel.dates[rows][0].date()),
        fit_end=str(panel.dates[rows][-1].date()),
        clip=clip,
        stock_mean=np.nanmean(values, axis=0).tolist(),
        stock_std=np.where(stock_std > 0, stock_std, 1.0).tolist(),
        market_mean=np.nan_to_num(np.nanmean(market, axis=0)).tolist(),
        market_std=np.where(np.nan_to_num(market_std) > 0, market_std, 1.0).tolist(),
        stock_feature_names=panel.stock_feature_names,
        market_feature_names=panel.market_feature_names,
    )


def model_input(panel: Panel, scaler: Scaler) -> np.ndarray:
    """(D, S, C) float32: scaled, clipped features, zeros where unavailable, mask last."""
    if scaler.stock_feature_names != panel.stock_feature_names:
        raise DataError("The model was trained on other indicators than this code computes: retrain it.")
    n_dates, n_stocks, _ = panel.stock.shape
    stock = (panel.stock - np.asarray(scaler.stock_mean)) / np.asarray(scaler.stock_std)
    stock = np.clip(stock, -scaler.clip, scaler.clip)
    stock[~panel.available] = 0.0
    market = (panel.market - np.asarray(scaler.market_mean)) / np.asarray(scaler.market_std)
    market = np.nan_to_num(np.clip(market, -scaler.clip, scaler.clip))
    market = np.broadcast_to(market[:, None, :], (n_dates, n_stocks, market.shape[1]))
    mask = panel.available[:, :, None].astype(np.float64)
    return np.concatenate([stock, market, mask], axis=2).astype(np.float32)  # (D, S, C)


def window_ends(panel: Panel, window: int) -> np.ndarray:
    """Positions of sessions that have `window - 1` sessions before them."""
    return np.arange(window - 1, len(panel.dates))


def make_windows(tensor: np.ndarray, ends: np.ndarray, window: int) -> np.ndarray:
    """(N, T, S, C) windows ending at `ends`; a copy only of the rows asked for."""
    assert tensor.ndim == 3, "expected (D, S, C)"
    if len(ends) and ends.min() < window - 1:
        raise DataError(f"A window needs {window} sessions of history before its last day.")
    offsets = np.arange(-window + 1, 1)
    return tensor[ends[:, None] + offsets[None, :]]  # (N, T, S, C)
