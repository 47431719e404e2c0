"""Readying the dashboard's first page while the browser loads Streamlit's frontend.

From the moment the server listens, the browser spends about a second fetching and starting
Streamlit's JavaScript while the server idles; the first script run then needs pandas, the
backend, and ONNX Runtime with the production model and the latest inputs (seconds on a busy
2-core machine). `start()` (called by `sensex.interfaces.app.launch` before the
server starts) does that work in a thread during the browser's second: it waits until the port
accepts connections, so it never slows the server's own start, then imports what the Forecast
page imports and makes and warms the backend, which `common.backend()` takes over (`take()`,
waiting for it if it is not ready). It computes no forecast: the first visit does, and logs it.

This module imports nothing heavy: the slot must exist before the server runs a script. The
thread starts only once the server listens (Streamlit has imported what it imports by then):
importing pandas beside Streamlit's own start-up breaks Plotly, which then finds a half-imported
pandas in sys.modules.
"""

from __future__ import annotations

import gc
import importlib
import logging
import socket
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sensex.core.settings import Settings

log = logging.getLogger(__name__)

LISTEN_TIMEOUT_S = 60.0
FIRST_RUN_IMPORTS = ("sensex.interfaces.app.charts", "sensex.interfaces.app.clock_chip", "sensex.interfaces.app.common", "sensex.interfaces.app.universe_picker",
                     "sensex.market.calendar")  # main.py's


@dataclass(frozen=True)
class Warmed:
    settings_key: tuple[str, str | None, str]  # (SENSEX_HOME, SENSEX_API_URL, universe) it was made for
    backend: object


def settings_key(settings) -> tuple[str, str | None, str]:
    """What a backend is made for: the home, the API, and the universe (the dashboard's default one:
    the warm-up readies that one only)."""
    return str(settings.home), settings.api_url, settings.universe


_slot: Future | None = None
_slot_lock = threading.Lock()


def take() -> Warmed | None:
    """The warmed backend, once (waiting while it warms); None without a warm-up or when it failed."""
    global _slot
    with _slot_lock:
        future, _slot = _slot, None
    if future is None:
        return None
    try:
        return future.result()
    except Exception:  # noqa: BLE001 - logged by the thread; the page makes its own and shows the error
        return None


def _wait_until_listening(address: str, port: int) -> bool:
    host = "127.0.0.1" if address in ("", "0.0.0.0") else "::1" if address == "::" else address
    deadline = time.monotonic() + LISTEN_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def _warm(future: Future, address: str, port: int) -> None:
    try:
        _wait_until_listening(address, port)
        # The first script run's imports, in its order (main.py's): a thread importing what another
        # is importing waits for it, and the same order leaves no cycle to deadlock on.
        for module in FIRST_RUN_IMPORTS:
            importlib.import_module(module)
        from sensex.core.settings import get_settings
        from sensex.interfaces.app import backend  # after Streamlit's start-up: see the module's docstring

        settings = get_settings()
        warmed = Warmed(settings_key(settings), backend.prepare(settings))
        # st.set_page_config's emoji icon is checked against a regex of every emoji, compiled on import.
        from streamlit import emojis  # noqa: F401

        # What is loaded now (modules, the model, ~140,000 objects) lives as long as the process:
        # frozen, it is left out of the full collections Streamlit runs after every script run
        # and release_memory runs (0.05-0.1 s each, holding the GIL while a page is being sent).
        gc.collect()
        gc.freeze()
    except BaseException as exc:  # noqa: BLE001 - never let the warm-up break the dashboard
        log.debug("Dashboard warm-up failed: %s", exc)
        future.set_exception(exc)
    else:
        future.set_result(warmed)


def start(address: str, port: int) -> None:
    """Warm the first page in a daemon thread once the server on (address, port) listens."""
    global _slot
    future: Future = Future()
    with _slot_lock:
        _slot = future
    threading.Thread(target=_warm, args=(future, address, port), name="sensex-warm-up", daemon=True).start()


def backend_for(settings: Settings):
    """The backend warmed while the browser loaded the page, when it was made for these settings
    (waiting for it if it is still warming), else a new one."""
    from sensex.interfaces.app.backend import make_backend  # imports pandas: never at this module's import

    warmed = take()
    if warmed is not None and warmed.settings_key == settings_key(settings):
        return warmed.backend
    return make_backend(settings)
