"""Which process owns something, and whether that process still runs.

Things a process leaves behind when it is killed (an MLflow run marked RUNNING, a registry lock,
a scratch folder, a half-written temporary file) carry the owner's identity: host, boot id,
pid and the pid's start time. The start time tells a live owner from a later process that got
the same pid. Liveness can only be judged on the same machine (same host name and boot id);
anything else is judged by age by the caller.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

SCRATCH = "tmp"  # $SENSEX_HOME/tmp: scratch folders named after their owner


@lru_cache(maxsize=1)
def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown"


@lru_cache(maxsize=1)
def _boot_time() -> float | None:
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("btime "):
                return float(line.split()[1])
    except OSError:
        pass
    return None


def process_started(pid: int) -> float | None:
    """Epoch seconds at which `pid` started; None when it does not run (or /proc is missing)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    boot = _boot_time()
    if boot is None:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # the name in parentheses may hold spaces
    return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Owner:
    host: str
    boot_id: str
    pid: int
    started: float  # epoch seconds; 0 when unknown

    def tags(self, prefix: str = "sensex.") -> dict[str, str]:
        return {f"{prefix}host": self.host, f"{prefix}boot_id": self.boot_id, f"{prefix}pid": str(self.pid),
                f"{prefix}pid_started": f"{self.started:.2f}"}

    @classmethod
    def from_tags(cls, tags: dict, prefix: str = "sensex.") -> Owner | None:
        try:
            return cls(tags[f"{prefix}host"], tags[f"{prefix}boot_id"], int(tags[f"{prefix}pid"]),
                       float(tags[f"{prefix}pid_started"]))
        except (KeyError, ValueError):
            return None

    def on_this_machine(self) -> bool:
        return self.host == socket.gethostname() and self.boot_id == _boot_id()

    def is_alive(self) -> bool | None:
        """True or False on this machine; None when it cannot be told (another machine)."""
        if not self.on_this_machine():
            return None
        started = process_started(self.pid)
        if started is None:
            return False
        # The same pid started later is another process: the owner is gone. Clock ticks and the
        # rounding of btime make the two readings differ by a little.
        return not self.started or abs(started - self.started) < 2.0


def current_owner() -> Owner:
    pid = os.getpid()
    return Owner(socket.gethostname(), _boot_id(), pid, process_started(pid) or 0.0)


def owned_prefix(purpose: str) -> str:
    """A file or folder name prefix that names this process: `pid+start+host+purpose+`.
    ("+" cannot appear in a host name; dots can.)"""
    owner = current_owner()
    return f"{owner.pid}+{int(owner.started)}+{owner.host}+{purpose}+"


def is_abandoned(name: str) -> bool:
    """True for a name made with `owned_prefix` (leading dots allowed) whose process is gone
    from this machine; False for a live owner, another machine's, or a name not made so."""
    parts = name.lstrip(".").split("+")
    if len(parts) < 5 or parts[2] != socket.gethostname():
        return False
    try:
        pid, started_then = int(parts[0]), int(parts[1])
    except ValueError:
        return False
    started = process_started(pid)
    return started is None or abs(int(started) - started_then) > 2


@contextlib.contextmanager
def scratch_dir(home: Path, purpose: str) -> Iterator[Path]:
    """A temporary folder under $SENSEX_HOME/tmp named after this process, removed on exit;
    `sensex registry doctor` removes the ones whose process was killed."""
    root = home / SCRATCH
    root.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=owned_prefix(purpose), dir=root))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def abandoned_scratch(home: Path) -> list[Path]:
    """Scratch folders whose owner no longer runs on this machine."""
    root = home / SCRATCH
    return sorted(p for p in root.iterdir() if is_abandoned(p.name)) if root.is_dir() else []
