"""The out-of-sample forecasts a backtest trades, one row per session.

Walk-forward forecasts are kept where every `sensex evaluate --walk-forward` writes them:
`$SENSEX_HOME/forecasts/walk_forward/{universe}_{mode}_refit{N}m.parquet`, one file per universe,
mode and refit period, replaced atomically (temporary file, then rename) by the next walk-forward of
the same three. Columns: date (the session t a forecast is issued on), target_date (t + 1), mode,
model, probability (P(UP)), no_call (the fold's conformal interval straddles 0.5), fold (block
number) with its block_start, label, and expected_move (the range forecast refit on the same
blocks: the expected absolute move as a fraction; NaN where the range forecast was off or a block
had too little history for it). The Parquet file's own metadata records the walk-forward's MLflow
run, preset, model, span, refit period and the store's content hash.

Every row was predicted by a model fit on windows ending before its block, so any window of
them is out of sample. A registered version's forecasts are computed here on demand, on
sessions after its validation window only.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from sensex.core.errors import ConfigError, DataError
from sensex.core.processes import owned_prefix
from sensex.core.settings import Settings

FOLDER = Path("forecasts") / "walk_forward"
META_KEY = b"sensex.forecasts"
COLUMNS = ("date", "target_date", "mode", "model", "probability", "no_call", "fold", "block_start", "label",
           "expected_move")
SOURCE_WALK_FORWARD, SOURCE_VERSION = "walk-forward", "version"


def walk_forward_path(settings: Settings, universe_key: str, mode: str, refit_months: int) -> Path:
    return settings.home / FOLDER / f"{universe_key}_{mode}_refit{int(refit_months)}m.parquet"


def walk_forward_frame(result: dict, model: str, mode: str, target_dates: dict[str, str] | None = None,
                       expected_move: pd.Series | None = None) -> pd.DataFrame:
    """The rows of `sensex.models.walkforward.walk_forward`'s result for `model`: each session's
    P(UP), no-call flag and fold. `target_dates` maps a session to the next stored one;
    `expected_move` (by session) is the range forecast's walk-forward (`range_fit.walk_forward`)."""
    predictions = result["predictions"]
    dates = list(predictions["date"])
    no_call = predictions.get(f"{model}:no_call")
    folds = np.asarray(predictions["fold"], dtype=np.int64)
    block_starts = [result["blocks"][k]["block"][0] for k in folds]
    return pd.DataFrame({
        "date": pd.to_datetime(dates),
        "target_date": pd.to_datetime([(target_dates or {}).get(d) for d in dates]),
        "mode": mode, "model": model,
        "probability": np.asarray(predictions[model], dtype=np.float64),
        "no_call": np.asarray(no_call, dtype=bool) if no_call is not None else np.zeros(len(dates), dtype=bool),
        "fold": folds,
        "block_start": pd.to_datetime(block_starts),
        "label": np.asarray(predictions["label"], dtype=np.float64),
        "expected_move": (np.full(len(dates), np.nan) if expected_move is None or expected_move.empty else
                          expected_move.reindex(pd.to_datetime(dates)).to_numpy(np.float64)),
    })


def write_walk_forward(path: Path, frame: pd.DataFrame, meta: dict) -> Path:
    """Write the forecasts atomically: a reader sees the old file or the new one, never half of one."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    meta = {**meta, "written_at": datetime.now(UTC).isoformat(timespec="seconds"), "rows": len(frame)}
    table = pa.Table.from_pandas(frame[[c for c in COLUMNS if c in frame]], preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), META_KEY: json.dumps(meta).encode()})
    path.parent.mkdir(parents=True, exist_ok=True)
    # Named after this process, so that `sensex registry doctor` can remove what a kill left.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{owned_prefix(path.name)}", suffix=".tmp")
    os.close(fd)
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_file(path: Path) -> tuple[pd.DataFrame, dict]:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    meta = json.loads((table.schema.metadata or {}).get(META_KEY, b"{}"))
    frame = table.to_pandas()
    frame["date"] = pd.to_datetime(frame["date"])
    return frame, meta


def read_walk_forward(settings: Settings, universe_key: str, mode: str,
                      refit_months: int | None = None) -> tuple[pd.DataFrame, dict]:
    """The stored walk-forward forecasts of a mode: the file of `refit_months`, or without it the one
    written last. A sentence says which command stores them when there are none."""
    folder = settings.home / FOLDER
    flag = "" if universe_key == "sensex" else f" --universe {settings.universe}"
    command = (f"`sensex evaluate --walk-forward --mode {mode}{flag} --start YYYY-MM-DD --end YYYY-MM-DD"
               f"{f' --refit-months {refit_months}' if refit_months else ''}`")
    if refit_months is not None:
        if refit_months < 1:
            raise ConfigError(f"--refit-months must be at least 1, not {refit_months}.")
        path = walk_forward_path(settings, universe_key, mode, refit_months)
        if not path.is_file():
            stored = sorted(p.stem.rsplit("_refit", 1)[1] for p in folder.glob(f"{universe_key}_{mode}_refit*m.parquet"))
            also = f" (stored: refit every {', '.join(s.removesuffix('m') for s in stored)} months)" if stored else ""
            raise DataError(f"No stored {mode}-mode walk-forward forecasts refit every {refit_months} months{also}:"
                            f" run {command} first.")
    else:
        candidates = sorted(folder.glob(f"{universe_key}_{mode}_refit*m.parquet"), key=lambda p: p.stat().st_mtime)
        if not candidates:
            raise DataError(f"No stored {mode}-mode walk-forward forecasts in {folder}: run {command} first.")
        path = candidates[-1]
    frame, meta = read_file(path)
    return frame, {**meta, "file": str(path), "source": SOURCE_WALK_FORWARD}


def version_forecasts(settings: Settings, universe, mode: str, version: str | int, start: str | None,
                      end: str | None) -> tuple[pd.DataFrame, dict]:
    """A registered version's forecasts on the labelled sessions of [start, end], which must lie after
    its validation window (default: from the first session after it to the last labelled one)."""
    from sensex.features.dataset import load_panel, load_range
    from sensex.models.evaluate import predict_rows
    from sensex.models.range_portable import has_range
    from sensex.models.uncertainty import intervals, no_call
    from sensex.registry.model_registry import ModelRegistry

    info, bundle = ModelRegistry(settings, mode=mode).load(version=version)
    meta = bundle.meta
    if meta.mode != mode:
        raise ConfigError(f"Version {version} is a {meta.mode}-mode model: pass --mode {meta.mode}.")
    train, valid = (meta.segments.get(k) for k in ("train", "valid"))
    if not valid:
        raise DataError(f"Version {version} records no validation window, so its out-of-sample sessions are unknown:"
                        " backtest the walk-forward instead (--walk-forward).")
    valid_end = pd.Timestamp(valid[1])
    first = pd.Timestamp(start) if start else valid_end + pd.Timedelta(days=1)
    last = pd.Timestamp(end) if end else None
    if first <= valid_end:
        used = f"training rows ({train[0]}..{train[1]})" if train and first <= pd.Timestamp(train[1]) else \
            f"validation rows ({valid[0]}..{valid[1]})"
        raise ConfigError(f"The window from {first.date()} overlaps version {version}'s {used}: start the backtest"
                          f" after {valid[1]}, the end of its validation window.")
    if has_range(meta):
        panel, ranges = load_range(settings, universe, mode=mode)
    else:
        panel, ranges = load_panel(settings, universe, mode=mode), None
    positions = np.arange(len(panel.dates))
    in_window = panel.dates >= first
    if last is not None:
        in_window &= panel.dates <= last
    rows = positions[in_window & np.isfinite(panel.label) & (positions >= bundle.window - 1)]
    if not len(rows):
        span = f"{first.date()}..{last.date() if last is not None else 'the last stored session'}"
        raise DataError(f"No labelled session in {span} after version {version}'s validation window"
                        f" (which ends {valid[1]}): choose a window within the stored data.")
    probability, spread = predict_rows(bundle, panel, rows)
    half_width = float(meta.uncertainty.get("half_width", 0.5)) if meta.uncertainty else 0.5
    flags = no_call(intervals(probability, half_width, spread))
    dates = panel.dates[rows]
    nxt = panel.dates[np.minimum(rows + 1, len(panel.dates) - 1)]
    frame = pd.DataFrame({
        "date": dates, "target_date": nxt, "mode": mode, "model": meta.kind, "probability": probability,
        "no_call": flags, "fold": 0, "block_start": pd.Timestamp(first), "label": panel.label[rows],
        "expected_move": _expected_moves(meta.range, ranges, rows) if ranges is not None else np.nan,
    })
    return frame, {"source": SOURCE_VERSION, "version": str(info.get("version")), "model_name": info.get("name"),
                   "run_id": info.get("run_id"), "model": meta.kind, "segments": meta.segments,
                   "conformal_half_width": half_width}


def _expected_moves(record: dict, ranges, rows: np.ndarray) -> np.ndarray:
    """The version's range forecast for each row: the expected absolute move as a fraction, as
    `range_portable.expected_move` serves it (NaN where a feature is missing)."""
    from sensex.models.range_portable import expected_fraction, log_variances

    features = ranges.features[np.asarray(rows, dtype=int)]
    whole = np.isfinite(features).all(axis=1)
    out = np.full(len(features), np.nan)
    if whole.any():
        out[whole] = expected_fraction(float(record["serving"]["move_ratio"]), log_variances(record, features[whole]))
    return out


def store_walk_forward(settings: Settings, universe_key: str, session_dates: pd.DatetimeIndex, result: dict,
                       summary: dict, data_info: dict, expected_move: pd.Series | None = None) -> Path:
    """Keep a walk-forward's per-session forecasts for `sensex backtest` (called by
    `sensex.jobs.commands.walk_forward` once its MLflow run is logged); returns the file."""
    sessions = [str(d.date()) for d in pd.DatetimeIndex(session_dates)]
    following = dict(zip(sessions[:-1], sessions[1:], strict=True))
    model, mode = summary["model"], summary["mode"]
    frame = walk_forward_frame(result, model, mode, following, expected_move)
    meta = {"run_id": summary.get("run_id"), "model": model, "mode": mode, "preset": summary.get("preset"),
            "start": summary.get("start"), "end": summary.get("end"), "refit_months": int(summary["refit_months"]),
            "universe": universe_key, "data_source": data_info.get("source"),
            "content_hash": data_info.get("content_hash"), "synthetic": bool(data_info.get("synthetic"))}
    return write_walk_forward(walk_forward_path(settings, universe_key, mode, summary["refit_months"]), frame, meta)
