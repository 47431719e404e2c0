"""Long computations of the API run in worker processes, at a lower CPU priority.

Computing a forecast's inputs (pandas, TA-Lib) or a heavy view (a drift report, the drift
history, an explanation: seconds of pandas and numpy) holds the interpreter lock for long
stretches. In the API process that stalls everything else it does: the event loop answering
cached forecasts, `/health`. So the API hands each kind of computation to a worker process of its
own (spawned on the first computation and kept: its parsed store stays warm), and waits for the
result. The workers run niced: on a machine of few cores the answers the API gives from memory
come first, the computations take what CPU is left. A worker exits by itself when the API
process is gone, however it stopped.

Only plain data crosses (settings, universe, a model bundle without its ONNX session). A worker
that dies is replaced, and that one computation runs in the calling process instead.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
# How much lower the workers' priority is than the API's (0..19). The Linux scheduler weighs nice 10
# at about a tenth of nice 0: on a busy core the API's threads get about nine tenths of the CPU.
NICENESS = 10
# How often a worker checks that the process that started it is still there.
PARENT_CHECK_SECONDS = 1.0


def _start_worker() -> None:
    """In each worker, first: a lower priority, and an exit once the API process is gone. A pool's
    workers outlive a parent that was killed (or stopped before it could shut them down): each
    kept hundreds of MB after its server had stopped."""
    try:
        os.nice(NICENESS)
    except OSError:  # not allowed here: the work runs at the API's priority
        pass
    parent = os.getppid()

    def exit_with_parent() -> None:
        while os.getppid() == parent:  # an orphan is adopted by another process: its parent id changes
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(0)

    threading.Thread(target=exit_with_parent, name="sensex-parent-watch", daemon=True).start()


def follow_home(home: str) -> None:
    """Make the worker's own settings the API's: the calendar reads its cache and the user's
    holiday files under SENSEX_HOME through `get_settings()`, and the worker was started with the
    environment of whichever moment first needed it. Only in a worker: a computation that runs in
    the calling process (its worker died) leaves that process's environment alone."""
    if multiprocessing.parent_process() is None:
        return
    from sensex.core.settings import get_settings
    from sensex.market import calendar

    if os.environ.get("SENSEX_HOME") != home:
        os.environ["SENSEX_HOME"] = home
        get_settings.cache_clear()
        calendar._recorded_sessions.cache_clear()


class WorkerProcess:
    """One spawned, niced worker process for one kind of computation."""

    def __init__(self, what: str) -> None:
        self.what = what  # for the log: "forecast inputs", "heavy views"
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        atexit.register(self.shutdown)

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                # spawn, not fork: the API process runs threads (uvicorn, the model watcher) a fork would copy mid-lock.
                self._pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                                 initializer=_start_worker)
            return self._pool

    def shutdown(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def run(self, function: Callable[..., T], *args) -> T:
        """`function(*args)` in the worker (a module-level function, picklable arguments). Its own
        errors come back as raised there; a worker that died costs this call a run here."""
        try:
            return self._executor().submit(function, *args).result()
        except BrokenProcessPool:  # the worker died (killed, out of memory): a new one next time, this one here
            log.warning("The process computing %s stopped; computing this here and starting a new one.", self.what)
            self.shutdown()
            return function(*args)
