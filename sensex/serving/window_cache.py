"""The latest session's model inputs, kept on disk per model and data hash.

Nearly every request asks for the forecast from the latest stored session. Its inputs (the
window, the baselines' rows, the realized volatility) depend only on the stored data and the
model's scaler, so they are computed once per store content hash and kept in
`$SENSEX_HOME/cache/windows/`: after a restart the latest forecast costs one ONNX call, not a
feature computation. Plain `.npz` arrays, read with `allow_pickle=False` (caches hold data, never code).

A file is checked when read: every array present with the type and shape `save` writes (the
window (1, T, S, C) float32 and finite, the tabular rows (1, n), ISO dates). One that is not
(truncated, garbled, empty, foreign) is a miss: it is deleted, the inputs are computed again and
written anew, so a damaged file never reaches the model (nor is it blamed for one).
`damaged(directory)` lists such files for `sensex registry doctor`.
"""

from __future__ import annotations

import logging
import os
import re
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
    # The range forecast's features of the last session (`features.ranges`, in the bundle's range
    # record's order) and the index's close on it; None for a model without a range part.
    range_features: np.ndarray | None = None  # (K,)
    last_close: float | None = None
    # Each member's HAR features of the last session (`models.member_ranges`), NaN for a member
    # without data; None for a model without a member range record.
    member_range_features: np.ndarray | None = None  # (S, 3)
    # The range model's conformal scores of the settled sessions after its training window, the
    # last 250 (`range_portable.recent_scores`): the served interval and band are calibrated on
    # them. Empty when none is settled yet; None for a model without a range part.
    range_scores: np.ndarray | None = None  # (<= 250,)


def _path(directory: Path, mode: str, model_sha: str, content_hash: str) -> Path:
    return directory / f"{mode}-{model_sha[:16]}-{content_hash[:16]}.npz"


MAX_FILE_BYTES = 256 * 1024 * 1024  # a (1, 60, 50, 60) float32 window is ~700 KB
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
ARRAYS = ("window", "index", "latest", "last_session", "volatility", "last_sp500")
# Written since the range forecast: absent in older files, which then have no range row (the
# server computes the inputs again for a model that needs one, `ModelServer._latest_inputs`).
OPTIONAL_ARRAYS = ("range_features", "last_close", "member_range_features", "range_scores")


class DamagedCache(ValueError):
    """A cache file that is not what `save` writes."""


def _text(value: np.ndarray, name: str, optional: bool = False) -> str | None:
    if value.shape != () or value.dtype.kind != "U":
        raise DamagedCache(f"{name} is not text")
    text = str(value)
    if optional and not text:
        return None
    if not _ISO_DATE.fullmatch(text):
        raise DamagedCache(f"{name} is not a YYYY-MM-DD date")
    return text


def _rows(value: np.ndarray, name: str) -> np.ndarray:
    if value.ndim != 2 or value.shape[0] != 1 or value.dtype.kind != "f" or np.isinf(value).any():
        raise DamagedCache(f"{name} is not one row of numbers")
    return value


def _read(path: Path) -> LatestInputs:
    """The inputs in `path`; raises FileNotFoundError, or DamagedCache for anything `save` did not write."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise DamagedCache("larger than a window")
        with np.load(path, allow_pickle=False) as saved:
            missing = [name for name in ARRAYS if name not in saved.files]
            if missing:
                raise DamagedCache(f"lacks {', '.join(missing)}")
            arrays = {name: saved[name] for name in ARRAYS}
            arrays |= {name: saved[name] for name in OPTIONAL_ARRAYS if name in saved.files}
    except (FileNotFoundError, DamagedCache):
        raise
    except Exception as exc:  # noqa: BLE001 - BadZipFile, EOFError, OSError, ValueError (a pickled array), ...
        raise DamagedCache(f"{type(exc).__name__}: {str(exc)[:120]}") from exc
    window = arrays["window"]
    if window.ndim != 4 or window.shape[0] != 1 or window.dtype != np.float32 or not np.isfinite(window).all():
        raise DamagedCache("window is not a finite (1, T, S, C) float32 array")
    volatility = arrays["volatility"]
    if volatility.shape != () or volatility.dtype.kind != "f" or np.isinf(volatility):
        raise DamagedCache("volatility is not a number")
    range_row, last_close = _range_row(arrays)
    return LatestInputs(window, {"index": _rows(arrays["index"], "index"), "latest": _rows(arrays["latest"], "latest")},
                        _text(arrays["last_session"], "last_session"), float(volatility),
                        _text(arrays["last_sp500"], "last_sp500", optional=True), range_row, last_close,
                        _member_rows(arrays, window.shape[2]), _range_scores(arrays, range_row))


def _range_row(arrays: dict) -> tuple[np.ndarray | None, float | None]:
    """(range features, last close) as `save` writes them: an empty row and NaN mean none."""
    row, close = arrays.get("range_features"), arrays.get("last_close")
    if row is None or close is None or row.size == 0:
        return None, None
    if row.ndim != 1 or row.dtype.kind != "f" or np.isinf(row).any():
        raise DamagedCache("range_features is not one row of numbers")
    if close.shape != () or close.dtype.kind != "f" or not np.isfinite(close) or close <= 0:
        raise DamagedCache("last_close is not a positive number")
    return row, float(close)


def _range_scores(arrays: dict, range_row: np.ndarray | None) -> np.ndarray | None:
    """The range model's recent scores as `save` writes them: none without a range row, or in a
    file written before they existed (the server then computes the inputs again)."""
    scores = arrays.get("range_scores")
    if scores is None or range_row is None:
        return None
    # -inf is a session that did not move (its log move); NaN or +inf is not a score
    if scores.ndim != 1 or scores.dtype.kind != "f" or np.isnan(scores).any() or np.isposinf(scores).any():
        raise DamagedCache("range_scores is not a row of scores")
    return scores


def _member_rows(arrays: dict, members: int) -> np.ndarray | None:
    """The members' range features as `save` writes them: absent or empty means none."""
    rows = arrays.get("member_range_features")
    if rows is None or rows.size == 0:
        return None
    if rows.ndim != 2 or rows.shape[0] != members or rows.dtype.kind != "f" or np.isinf(rows).any():
        raise DamagedCache("member_range_features is not one row of numbers per member")
    return rows


def load(directory: Path, mode: str, model_sha: str, content_hash: str | None) -> LatestInputs | None:
    """The kept inputs, or None: absent, or damaged (then deleted, with a warning, to be rewritten)."""
    if not content_hash or not model_sha:
        return None
    path = _path(directory, mode, model_sha, content_hash)
    try:
        return _read(path)
    except FileNotFoundError:
        return None
    except DamagedCache as exc:  # computed again by the caller and rewritten
        log.warning("Deleting the damaged cached window %s (%s): it is computed again.", path, exc)
        try:
            path.unlink(missing_ok=True)
        except OSError as error:  # a read-only home: the caller still computes the right inputs
            log.debug("Could not delete %s: %s", path, error)
        return None


def damaged(directory: Path) -> list[Path]:
    """The window cache files that are not what `save` writes (for `sensex registry doctor`)."""
    if not directory.is_dir():
        return []
    found = []
    for path in sorted(p for p in directory.glob("*.npz") if not p.name.startswith(".")):  # not a write in progress
        try:
            _read(path)
        except FileNotFoundError:
            continue
        except DamagedCache:
            found.append(path)
    return found


def remove_damaged(directory: Path) -> list[Path]:
    """Delete the files `damaged` lists (`sensex registry doctor`); the servers compute them again."""
    removed = []
    for path in damaged(directory):
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        removed.append(path)
    return removed


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
                 last_sp500=np.str_(inputs.last_sp500 or ""),
                 range_features=np.zeros(0) if inputs.range_features is None else np.asarray(inputs.range_features, np.float64),
                 last_close=np.float64(np.nan if inputs.last_close is None else inputs.last_close),
                 member_range_features=np.zeros(0) if inputs.member_range_features is None
                 else np.asarray(inputs.member_range_features, np.float64),
                 **({} if inputs.range_scores is None else {"range_scores": np.asarray(inputs.range_scores, np.float64)}))
        os.replace(scratch, path)
        for old in directory.glob(f"{mode}-{model_sha[:16]}-*.npz"):
            if old != path:
                old.unlink(missing_ok=True)
    except OSError as exc:  # a read-only or full home only loses the speed-up
        log.debug("Window cache %s not written: %s", path, exc)
