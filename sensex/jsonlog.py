"""Append-only JSON Lines logs under `$SENSEX_HOME/logs`, safe across processes (flock)."""

from __future__ import annotations

import fcntl
import json
from pathlib import Path

PREDICTION_LOG = "prediction_log.json"
PROMOTION_LOG = "model_promotion_log.json"


def append(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, default=str) + "\n"
    with open(path, "a", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            handle.write(line)
            handle.flush()
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read(path: Path, limit: int | None = None) -> list[dict]:
    """Records oldest first (the last `limit` when given); a torn last line is skipped."""
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records[-limit:] if limit else records
