"""A model's inputs computed in a worker process, for the API.

Computing a forecast's inputs from the store (pandas, TA-Lib: several seconds for a session no
one asked for before) holds the interpreter lock for long stretches. In the API process that
stalls everything else it does: the event loop answering cached forecasts, `/health`. So the API
hands the computation to one worker process (spawned once, on the first computation, and kept:
its parsed store stays warm) and waits for the arrays. Only what the computation needs crosses:
the settings, the universe and `InputsSpec` (the bundle's window, metadata and scaler, not its
ONNX session). Errors come back as the same one-sentence errors; a worker that dies is replaced,
and that one computation runs here instead.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from sensex.core.settings import Settings
from sensex.features.windows import Scaler
from sensex.market.universe import Universe
from sensex.models.bundle import BundleMeta
from sensex.serving.window_cache import LatestInputs

log = logging.getLogger(__name__)

_pool: ProcessPoolExecutor | None = None
_pool_lock = threading.Lock()


@dataclass(frozen=True)
class InputsSpec:
    """What computing a model's inputs needs from its bundle (`inputs.computed_inputs` reads only
    these), without the ONNX session that cannot leave the process."""

    window: int
    meta: BundleMeta
    scaler: Scaler


def _follow(settings: Settings) -> None:
    """Make this process's own settings the API's: the calendar reads its cache and the user's
    holiday files under SENSEX_HOME through `get_settings()`, and the worker was started with the
    environment of whichever moment first needed it."""
    from sensex.core.settings import get_settings
    from sensex.market import calendar

    home = str(settings.home)
    if os.environ.get("SENSEX_HOME") != home:
        os.environ["SENSEX_HOME"] = home
        get_settings.cache_clear()
        calendar._recorded_sessions.cache_clear()


def _compute(settings: Settings, universe: Universe, spec: InputsSpec, as_of: str | None) -> LatestInputs:
    from sensex.serving.inputs import computed_inputs  # in the worker: pandas and TA-Lib live there

    _follow(settings)
    return computed_inputs(settings, universe, spec, as_of)


def _executor() -> ProcessPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            # spawn, not fork: the API process runs threads (uvicorn, the model watcher) a fork would copy mid-lock.
            _pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
            atexit.register(shutdown)
        return _pool


def shutdown() -> None:
    global _pool
    with _pool_lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)


def computed_elsewhere(settings: Settings, universe: Universe, bundle, as_of: str | None) -> LatestInputs:
    """`inputs.computed_inputs` of `bundle`, computed in the worker process."""
    spec = InputsSpec(bundle.window, bundle.meta, bundle.scaler)
    try:
        return _executor().submit(_compute, settings, universe, spec, as_of).result()
    except BrokenProcessPool:  # the worker died (killed, out of memory): a new one next time, this one here
        log.warning("The process computing forecast inputs stopped; computing these here and starting a new one.")
        shutdown()
        from sensex.serving.inputs import computed_inputs

        return computed_inputs(settings, universe, spec, as_of)
