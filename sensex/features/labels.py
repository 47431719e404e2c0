"""Labels beside the model's own (`features.build`: close(t+1) > close(t)).

`after_open_label` asks the part of the next session a trader could still act on at the open:
did the index close above its own open? A pre-open forecast can see the opening gap coming (the
S&P 500 moved overnight), so its skill on the close-to-close label says little about this one;
every mode reports both (`models.evaluate.metrics_after_open`).
"""

from __future__ import annotations

import numpy as np


def after_open_label(index_open: np.ndarray | None, index_close: np.ndarray) -> np.ndarray:
    """(D,) 1.0 when session t + 1 closes above its open, 0.0 when not, NaN on the last session
    and where either price of t + 1 is missing (all NaN when no open is known at all). Row t
    lines up with the label of `build_panel`."""
    index_close = np.asarray(index_close, dtype=np.float64)
    if index_open is None:
        return np.full(len(index_close), np.nan)
    index_open = np.asarray(index_open, dtype=np.float64)
    label = np.full(len(index_close), np.nan)
    next_open, next_close = index_open[1:], index_close[1:]
    known = np.isfinite(next_open) & np.isfinite(next_close) & (next_open > 0)
    label[:-1] = np.where(known, (next_close > next_open).astype(np.float64), np.nan)
    return label
