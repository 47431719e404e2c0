"""The time-ordered split of a panel into training, validation and test windows: time is the
only split axis."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sensex.core.errors import ConfigError, DataError
from sensex.features.build import Panel
from sensex.features.indicators import MAX_WARMUP
from sensex.features.windows import window_ends
from sensex.models.config import Config

MIN_TRAIN_WINDOWS = 100


@dataclass
class Segments:
    train: np.ndarray  # positions in panel.dates of labelled window ends
    valid: np.ndarray
    test: np.ndarray

    def bounds(self, panel: Panel) -> dict[str, list[str]]:
        return {
            name: [str(panel.dates[rows[0]].date()), str(panel.dates[rows[-1]].date())]
            for name, rows in (("train", self.train), ("valid", self.valid), ("test", self.test))
        }


def labelled_ends(panel: Panel, window: int) -> np.ndarray:
    """Positions of sessions that end a full window of settled indicators and have a known label."""
    # The first windows would see indicators still warming up: skip those sessions.
    ends = window_ends(panel, window)
    ends = ends[ends >= window - 1 + MAX_WARMUP]
    return ends[np.isfinite(panel.label[ends])]


def split_segments(panel: Panel, config: Config) -> Segments:
    """Time-ordered train / valid / test window ends; the only split axis is time."""
    window, train_cfg = config.features.window, config.train
    ends = labelled_ends(panel, window)
    needed = window + MAX_WARMUP + MIN_TRAIN_WINDOWS + train_cfg.valid_sessions + train_cfg.test_sessions
    if len(ends) == 0:
        raise DataError(f"Too little history: training needs about {needed} sessions, the store has {len(panel.dates)}.")
    dates = panel.dates[ends]
    if train_cfg.train_end:
        train_end = pd.Timestamp(train_cfg.train_end)
        valid_end = pd.Timestamp(train_cfg.valid_end) if train_cfg.valid_end else None
        test_end = pd.Timestamp(train_cfg.test_end) if train_cfg.test_end else dates[-1]
        if valid_end is None:
            raise ConfigError("--train-end needs --valid-end too: the validation window must be named.")
        if not train_end < valid_end <= test_end:
            raise ConfigError("Segment dates must be ordered: train-end < valid-end <= test-end.")
        train = ends[dates <= train_end]
        valid = ends[(dates > train_end) & (dates <= valid_end)]
        test = ends[(dates > valid_end) & (dates <= test_end)]
    else:
        n_test, n_valid = train_cfg.test_sessions, train_cfg.valid_sessions
        test, valid, train = ends[-n_test:], ends[-n_test - n_valid : -n_test], ends[: -n_test - n_valid]
    if train_cfg.max_train_windows:
        train = train[-train_cfg.max_train_windows :]
    if len(train) < MIN_TRAIN_WINDOWS or len(valid) < 20 or len(test) < 20:
        raise DataError(
            f"Too little history: training needs about {needed} sessions"
            f" ({window}-session windows, {MAX_WARMUP} warm-up, {MIN_TRAIN_WINDOWS}+ training windows,"
            f" validation and test windows); the store has {len(panel.dates)} index sessions, which give"
            f" {len(train)} training, {len(valid)} validation and {len(test)} test windows"
            f" (at least {MIN_TRAIN_WINDOWS}, 20 and 20 are needed)."
        )
    return Segments(train=train, valid=valid, test=test)
