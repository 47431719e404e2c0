"""Append-only JSON Lines logs under `$SENSEX_HOME/logs`, safe across processes (flock)."""

from __future__ import annotations

import fcntl
import json
from pathlib import Path

PREDICTION_LOG = "prediction_log.json"
PROMOTION_LOG = "model_promotion_log.json"
# Forecasts logged before one home held several universes carry no `universe`: they were SENSEX's.
UNLABELLED_UNIVERSE = "sensex"


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
    """Records oldest first (the last `limit` when given); a torn or corrupt line is skipped.

    With `limit`, only the file's tail is read: the prediction log grows by every forecast, and
    `GET /predictions` must not parse months of it to return the last 50 lines.
    """
    if not path.is_file():
        return []
    lines = _tail_lines(path, limit) if limit else path.read_bytes().splitlines()
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
    return records[-limit:] if limit else records


def for_universe(records: list[dict], universe_key: str) -> list[dict]:
    """The records of one universe's forecasts (`universe` field; unlabelled ones are SENSEX's)."""
    return [r for r in records if (r.get("universe") or UNLABELLED_UNIVERSE) == universe_key]


def read_universe(path: Path, universe_key: str, limit: int | None = None) -> list[dict]:
    """`read` of one universe's records: the last `limit` of them, reading the whole file only when
    the tail holds other universes' records too."""
    records = read(path, limit)
    kept = for_universe(records, universe_key)
    if limit and len(kept) < len(records):
        kept = for_universe(read(path), universe_key)[-limit:]
    return kept


def _tail_lines(path: Path, limit: int, block: int = 1 << 16) -> list[bytes]:
    """At least the last `limit` complete lines (fewer when the file has fewer), read backwards
    in blocks. Extra lines are kept so that skipping a corrupt one still leaves `limit`."""
    want = limit + 8
    with open(path, "rb") as handle:
        end = handle.seek(0, 2)
        data, start = b"", end
        while start > 0 and data.count(b"\n") <= want:
            start = max(0, start - block)
            handle.seek(start)
            data = handle.read(end - start)
    lines = data.splitlines()
    if start > 0:
        lines = lines[1:]  # the first line is cut by the block boundary
    return lines[-want:]
