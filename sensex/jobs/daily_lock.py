"""One daily job at a time: an exclusive flock on `$SENSEX_HOME/locks/daily.lock`."""

from __future__ import annotations

import fcntl
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

LOCK_FILE = "locks/daily.lock"  # beside the promotion lock
HUNG_AFTER = timedelta(hours=6)


class DailyLock:
    """An exclusive, non-blocking flock on `path`; the file says who holds it and since when.
    The kernel drops the lock when its process dies, so a crashed run never blocks the next one."""

    def __init__(self, path: Path):
        self.path = path
        self.acquired = False
        self.holder: dict = {}
        self._handle = None

    def __enter__(self) -> DailyLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = open(self.path, "a+", encoding="utf-8")
        try:
            fcntl.flock(self._handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._handle.seek(0)
            try:
                self.holder = json.loads(self._handle.read() or "{}")
            except json.JSONDecodeError:
                self.holder = {}
            return self
        self.acquired = True
        self._handle.seek(0)
        self._handle.truncate()
        self._handle.write(json.dumps({"pid": os.getpid(), "since": datetime.now(UTC).isoformat(timespec="seconds")}))
        self._handle.flush()
        return self

    def __exit__(self, *exc) -> None:
        if self.acquired:
            self._handle.truncate(0)
            fcntl.flock(self._handle, fcntl.LOCK_UN)
        self._handle.close()

    def held_for(self) -> timedelta | None:
        try:
            return datetime.now(UTC) - datetime.fromisoformat(self.holder["since"])
        except (KeyError, TypeError, ValueError):
            return None
