"""Append-only JSON Lines logs under `$SENSEX_HOME/logs`, safe across processes (flock).

Reading trusts nothing: a line is a record only when it is a JSON object without NaN or
Infinity, nested at most MAX_DEPTH deep, whose fields the project reads have the types the
project writes (`FIELDS`: `as_of` an ISO date, `prediction` an object with a direction UP or
DOWN and a probability in [0, 1], ...). Anything else (a torn line, `[1,2,3]` appended by hand,
another program's output) is skipped, so no reader meets a value of a type it does not expect.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PREDICTION_LOG = "prediction_log.json"
PROMOTION_LOG = "model_promotion_log.json"
# Forecasts logged before one home held several universes carry no `universe`: they were SENSEX's.
UNLABELLED_UNIVERSE = "sensex"
MAX_DEPTH = 32  # our records nest 3 deep; a crafted line may not exhaust the parser's stack

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _optional(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: value is None or check(value)


def _text(value: Any) -> bool:
    return isinstance(value, str)


def _iso_date(value: Any) -> bool:
    return isinstance(value, str) and _ISO_DATE.fullmatch(value) is not None


def _probability(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0.0 <= value <= 1.0


def _prediction(value: Any) -> bool:
    return isinstance(value, dict) and value.get("direction") in (None, "UP", "DOWN") and \
        _optional(_probability)(value.get("probability"))


# The fields the project's readers use (prediction, promotion, outcome and daily logs), by name:
# a record holding one of them with another type is skipped. Absent fields are the readers' to default.
FIELDS: dict[str, Callable[[Any], bool]] = {
    "as_of": _optional(_iso_date), "target_date": _optional(_iso_date), "date": _optional(_iso_date),
    "prediction": _optional(_prediction), "direction": _optional(lambda v: v in ("UP", "DOWN")),
    "probability": _optional(_probability),
    "universe": _optional(_text), "mode": _optional(_text), "data_source": _optional(_text),
    "timestamp": _optional(_text), "run_at": _optional(_text), "status": _optional(_text),
    "event_type": _optional(_text), "promotion_id": _optional(_text), "model_name": _optional(_text),
    "model_version": _optional(lambda v: isinstance(v, str | int) and not isinstance(v, bool)),
    "version": _optional(lambda v: isinstance(v, str | int) and not isinstance(v, bool)),
    "back_dated": _optional(lambda v: isinstance(v, bool)), "correct": _optional(lambda v: isinstance(v, bool)),
    "done": _optional(lambda v: isinstance(v, list) and all(isinstance(item, str) for item in v)),
}


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:20]} overflows a float")
    return value


def _too_deep(line: bytes) -> bool:
    if line.count(b"[") + line.count(b"{") <= MAX_DEPTH:  # the usual line: cannot be deeper
        return False
    depth = 0
    for match in re.finditer(rb"[\[\]{}]", line):
        depth += 1 if match.group() in (b"[", b"{") else -1
        if depth > MAX_DEPTH:
            return True
    return False


def parse_record(line: bytes | str) -> dict | None:
    """The record on one line, or None when the line is not one of ours (see the module docstring)."""
    data = line.encode() if isinstance(line, str) else line
    if _too_deep(data):
        return None
    try:
        record = json.loads(data, parse_constant=_no_constant, parse_float=_finite_float)
    except (ValueError, UnicodeDecodeError, RecursionError):  # JSONDecodeError is a ValueError
        return None
    if not isinstance(record, dict):
        return None
    try:
        if all(FIELDS[name](value) for name, value in record.items() if name in FIELDS):
            return record
    except Exception:  # noqa: BLE001 - a check that cannot look at a value refuses it
        pass
    return None


def _finite(value: Any) -> Any:
    """`value` with NaN and infinities as None: JSON has neither, and `read` skips a line holding one."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def append(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(_finite(record), default=str) + "\n"
    with open(path, "a", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            handle.write(line)
            handle.flush()
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


RECENT_RECORDS = 2000  # how far back `append_once` looks for the same record: weeks of forecasts


def append_once(path: Path, record: dict, key: Callable[[dict], tuple], recent: int = RECENT_RECORDS) -> bool:
    """Append `record` unless one of the last `recent` records has the same `key`; True when it was
    written. The look and the write happen under the file's lock, so two processes (API replicas,
    a daily job run again after a kill) never both write the same record."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(_finite(record), default=str) + "\n").encode()
    wanted = key(record)
    with open(path, "a+b") as handle:  # read too: its start says whether it is the file last read
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            keys = _recent_keys(path, handle.fileno(), key, recent)
            if wanted in keys.keys:
                return False
            handle.write(line)
            handle.flush()
            keys.add(wanted, keys.offset + len(line), recent, line)
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
    return True


HEAD_BYTES = 256  # how much of a log's start identifies it beside its inode


@dataclass
class _Keys:
    """The keys of a log's last records as this process last read them, up to byte `offset` of the
    file `identity` (inode, device) that starts with `head`."""

    identity: tuple[int, int]
    offset: int
    keys: list[tuple]
    head: bytes = b""

    def add(self, key: tuple, offset: int, recent: int, line: bytes) -> None:
        if self.offset == 0:  # this process wrote the file's first line: that is how it starts
            self.head = line[:HEAD_BYTES]
        self.keys = (self.keys + [key])[-recent:]
        self.offset = offset


# Per (log, key function): parsing the last 2,000 records at every append held the interpreter
# lock for tens of milliseconds per logged forecast, stalling the API's event loop. Only the bytes
# appended since (by this or another process) are parsed; a replaced or truncated file is read again.
_recent: dict[tuple[Path, Callable], _Keys] = {}


def _same_file(held: _Keys, fd: int, identity: tuple[int, int], size: int) -> bool:
    """Whether the open log is the file `held` was read from, grown or not. The inode alone is not
    enough: a deleted log's inode is reused by the next file created, whose records would then be
    taken for appended ones and the deleted log's keys kept (a forecast never logged again). So
    the file must also start as it did."""
    if held.identity != identity or held.offset > size:
        return False
    head = os.pread(fd, HEAD_BYTES, 0)
    if not head.startswith(held.head):
        return False
    held.head = head
    return True


def _recent_keys(path: Path, fd: int, key: Callable[[dict], tuple], recent: int) -> _Keys:
    """The keys of the last `recent` records of the locked, open log `fd`."""
    info = os.fstat(fd)
    identity, size = (info.st_ino, info.st_dev), info.st_size
    held = _recent.get((path, key))
    if held is not None and _same_file(held, fd, identity, size):
        if held.offset < size:
            with open(path, "rb") as reader:
                reader.seek(held.offset)
                added = [key(r) for r in map(parse_record, reader.read(size - held.offset).split(b"\n"))
                         if r is not None]
            held.keys = (held.keys + added)[-recent:]
            held.offset = size
        return held
    fresh = _Keys(identity, size, [key(r) for r in _tail_records(path, recent)] if size else [],
                  os.pread(fd, HEAD_BYTES, 0) if size else b"")
    _recent[(path, key)] = fresh
    return fresh


def read(path: Path, limit: int | None = None) -> list[dict]:
    """Records oldest first (the last `limit` when given); a torn, corrupt or foreign line is
    skipped (`parse_record`).

    With `limit`, only the file's tail is read: the prediction log grows by every forecast, and
    `GET /predictions` must not parse months of it to return the last 50 lines.
    """
    if not path.is_file():
        return []
    if limit:
        return _tail_records(path, limit)
    return [record for record in map(parse_record, path.read_bytes().splitlines()) if record is not None]


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


def _tail_records(path: Path, limit: int, block: int = 1 << 16) -> list[dict]:
    """The last `limit` records (fewer when the file has fewer), oldest first, read backwards in
    blocks until that many lines parse: skipped lines, however many, never shorten the answer."""
    with open(path, "rb") as handle:
        end = handle.seek(0, 2)
        records: list[dict] = []
        start, carry = end, b""  # carry: the start of a line cut by the last block boundary
        while start > 0 and len(records) < limit:
            start = max(0, start - block)
            handle.seek(start)
            data = handle.read(end - start) + carry
            lines = data.split(b"\n")
            carry = lines.pop(0) if start > 0 else b""
            found = [record for record in map(parse_record, lines) if record is not None]
            records = found + records
            end = start
    return records[-limit:]
