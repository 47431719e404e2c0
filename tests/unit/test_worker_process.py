"""The API's worker processes (`sensex.serving.worker_process`): computations run in another,
lower-priority process, errors come back as raised, and a killed worker costs one run here."""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

import pytest

from sensex.serving.worker_process import NICENESS, WorkerProcess


@pytest.fixture
def worker():
    process = WorkerProcess("test computations")
    yield process
    process.shutdown()


def test_a_computation_runs_in_another_process_at_a_lower_priority(worker):
    assert worker.run(os.getpid) != os.getpid()
    assert worker.run(os.nice, 0) == min(os.nice(0) + NICENESS, 19)


def test_an_error_comes_back_as_it_was_raised(worker):
    with pytest.raises(ValueError, match="invalid literal"):
        worker.run(int, "not a number")
    assert worker.run(int, "12") == 12  # the worker survives its computations' errors


def test_a_killed_worker_costs_one_run_here_then_a_new_worker(worker, caplog):
    first = worker.run(os.getpid)
    assert first != os.getpid(), "the computation ran in this process: no worker to kill"
    os.kill(first, signal.SIGKILL)
    with caplog.at_level(logging.WARNING, logger="sensex.serving.worker_process"):
        assert worker.run(os.getpid) == os.getpid()  # computed here, not lost
    assert "The process computing test computations stopped" in caplog.text
    replacement = worker.run(os.getpid)
    assert replacement not in (first, os.getpid())


PARENT = """
import os, sys
from sensex.serving.worker_process import WorkerProcess
worker = WorkerProcess("orphan test")
print(worker.run(os.getpid), flush=True)
os.kill(os.getpid(), 9)  # killed: no shutdown, no exit handlers
"""


def test_a_worker_exits_when_its_parent_is_killed(tmp_path):
    """A killed API process leaves no worker behind (each held hundreds of MB)."""
    import subprocess
    import sys
    import time

    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())  # not read to the end: the worker holds the pipe while it lives
    parent.wait(60)
    parent.stdout.close()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return
        status = Path(f"/proc/{child}/status")
        if status.exists() and "State:\tZ" in status.read_text():
            return  # exited, not reaped yet by its new parent
        time.sleep(0.2)
    os.kill(child, signal.SIGKILL)
    pytest.fail(f"worker {child} was still running 20 s after its parent was killed")
