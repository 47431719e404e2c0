"""The latest session's model inputs, kept on disk per model and data hash.

Nearly every request asks for the forecast from the latest stored session. Its inputs (the
window, the baselines' rows, the realized volatility) depend only on the stored data and the
model's scaler, so they are computed once per store content hash and kept in
`$SENSEX_HOME/cache/windows/`: after a restart the latest forecast costs one ONNX call, not a
feature computation. Plain `.npz` arrays, read with `allow_pickle=False` (caches hold data, never code).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


@dataclass
class LatestInputs:
    """Everything a forecast from one stored session needs."""

    window: np.ndarray  # (1, T, S, C)
    tabular: dict  # the baselines' inputs of the last session: {"index": (1, 13), "latest": (1, F + M)}
    last_session: str  # ISO date
    volatility: float  # annualized 20-session realized volatility of the index
    last_sp500: str | None = None  # pre-open: the last S&P 500 session (New York date) used


def _path(directory: Path, mode: str, model_sha: str, content_hash: str) -> Path:
    return directory / f"{mode}-{model_sha[:16]}-{content_hash[:16]}.npz"


def load(directory: Path, mode: str, model_sha: str, content_hash: str | None) -> LatestInputs | None:
    if not content_hash or not model_sha:
        return None
    path = _path(directory, mode, model_sha, content_hash)
    try:
        with np.load(path, allow_pickle=False) as saved:
            return LatestInputs(saved["window"], {"index": saved["index"], "latest": saved["latest"]},
                                str(saved["last_session"]), float(saved["volatility"]),
                                str(saved["last_sp500"]) or None)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError) as exc:  # damaged: computed again and rewritten
        log.warning("Ignoring the cached window %s (%s).", path, exc)
        return None


def save(directory: Path, mode: str, model_sha: str, content_hash: str | None, inputs: LatestInputs) -> None:
    """Keep only this one per mode and model: older data hashes are of no use any more."""
    if not content_hash or not model_sha:
        return
    path = _path(directory, mode, model_sha, content_hash)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        scratch = path.with_name(f".{path.stem}.{os.getpid()}.npz")
        np.savez(scratch, window=inputs.window, index=inputs.tabular["index"], latest=inputs.tabular["latest"],
                 last_session=np.str_(inputs.last_session), volatility=np.float64(inputs.volatility),
                 last_sp500=np.str_(inputs.last_sp500 or ""))
        os.replace(scratch, path)
        for old in directory.glob(f"{mode}-{model_sha[:16]}-*.npz"):
            if old != path:
                old.unlink(missing_ok=True)
    except OSError as exc:  # a read-only or full home only loses the speed-up
        log.debug("Window cache %s not written: %s", path, exc)
