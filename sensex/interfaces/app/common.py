"""What every dashboard page shares: the backend, cached reads, and one way to show an error.

The backend is one per SENSEX_HOME / API URL / universe shown (`st.cache_resource`); slow reads that change
only with the data are cached for five minutes (`st.cache_data`). Forecasts are not cached
here: the model server caches them itself, keyed on the model and the data, and logs each one
it computes.
"""

from __future__ import annotations

import ctypes
import gc
import threading
from collections.abc import Callable
from typing import TypeVar

import streamlit as st

from sensex.core.cache import PRICE_TTL
from sensex.core.errors import ModelNotFoundError, SensexError
from sensex.core.settings import get_settings
from sensex.interfaces.app.warmup import backend_for

T = TypeVar("T")


def _use_the_system_allocator_for_arrow() -> None:
    """Arrow's own pool (mimalloc) keeps what a store read freed; the system allocator gives it
    back with `release_memory()` (20 MB less after a page visit on the real data)."""
    import pyarrow

    pyarrow.set_memory_pool(pyarrow.system_memory_pool())


_use_the_system_allocator_for_arrow()
UNIVERSE_KEY = "universe"  # the sidebar selector's session-state key: the spec of the universe shown


def no_model_advice(universe_spec: str, default: bool) -> str:
    flag = "" if default else f" --universe {universe_spec}"
    return (f"No production model yet: run `sensex train{flag}` then `sensex registry setup{flag}` "
            f"(a model that fails the promotion gate is not served; `sensex registry list{flag}` shows why).")


@st.cache_resource(show_spinner=False)
def _backend(home: str, api_url: str | None, universe: str):
    # The one `sensex app` warmed while the browser loaded, if any (it readies the default universe).
    return backend_for(get_settings().model_copy(update={"universe": universe}))


def _where() -> tuple[str, str | None, str]:
    """(SENSEX_HOME, SENSEX_API_URL, universe spec): what every backend and cached read is for. The
    universe is the selector's; through the REST API it is the API's own (one per `sensex serve`)."""
    settings = get_settings()
    chosen = None if settings.api_url else st.session_state.get(UNIVERSE_KEY)
    return str(settings.home), settings.api_url, chosen or settings.universe


def backend():
    # Keyed on where the state lives and which universe is shown: each gets its own backend.
    return _backend(*_where())


@st.cache_resource(show_spinner=False)
def _universe(spec: str):
    from sensex.market.universe import load_universe

    return load_universe(spec)


def universe():
    """The universe shown (name, index symbol, members), as `sensex.market.universe` loads it."""
    return _universe(_where()[2])


def universe_flag() -> str:
    """The CLI option naming the universe shown, for advice ("" for the default SENSEX)."""
    shown = universe()
    return "" if shown.is_default else f" --universe {shown.spec}"


@st.cache_data(ttl=300, show_spinner=False)
def _universes(home: str, api_url: str | None, default: str) -> list[dict]:
    return _backend(home, api_url, default).universes()


def universes() -> list[dict]:
    """The universes the selector offers, the default one (`sensex app --universe`) first
    (`sensex.data.universes`); empty through the REST API."""
    settings = get_settings()
    return _universes(str(settings.home), settings.api_url, settings.universe)


@st.cache_data(ttl=300, show_spinner=False)
def _data_status(where: tuple) -> dict:
    return backend().data_status()


@st.cache_data(ttl=300, show_spinner=False)
def _market_overview(where: tuple) -> dict:
    return backend().market_overview()


@st.cache_data(ttl=300, show_spinner=False)
def _market_history(where: tuple, sessions: int) -> list[dict]:
    return backend().market_history(sessions)


@st.cache_data(ttl=300, show_spinner=False)
def _explanation(where: tuple, as_of: str | None, model_version: str | None) -> dict:
    return backend().explain()


@st.cache_data(ttl=300, show_spinner=False)
def _drift(where: tuple) -> dict:
    return backend().drift()


@st.cache_data(ttl=PRICE_TTL, show_spinner=False)
def _market_clock(where: tuple) -> dict:
    return backend().market_clock()


def market_clock() -> dict:
    """The clock, the live quote (or why there is none) and the last stored close; read at most
    once per price TTL, as the live quote behind it is cached that long anyway."""
    return _market_clock(_where())


def data_status() -> dict:
    return _data_status(_where())


def drift() -> dict:
    """The served model's drift report: seconds of feature computation over the whole history,
    so one per five minutes, as the data status."""
    return _drift(_where())


def market_overview() -> dict:
    return _market_overview(_where())


def market_history(sessions: int) -> list[dict]:
    return _market_history(_where(), sessions)


def explanation(forecast: dict | None) -> dict:
    """The explanation of the forecast shown (cached per as-of session and model version)."""
    forecast = forecast or {}
    return _explanation(_where(), forecast.get("as_of"), forecast.get("model_version"))


def forget_explanation() -> None:
    _explanation.clear()


def backtest_forecasts() -> list[dict]:
    """The stored walk-forward forecasts files (mode, refit period, SHA-256, ...): read on every
    run, so a new walk-forward shows at once; a few file reads."""
    return backend().backtest_forecasts()


@st.cache_data(ttl=3600, max_entries=32, show_spinner="Trading the stored forecasts...")
def _backtest(where: tuple, forecasts_sha256: str, last_date: str | None, mode: str, refit_months: int, rule: str,
              zero_costs: bool) -> dict:
    return backend().backtest(mode, rule, zero_costs, refit_months)


def backtest(forecasts: dict, rule: str, zero_costs: bool) -> dict:
    """The backtest of one stored forecasts file (an entry of `backtest_forecasts`), cached per file
    content, rule and costs (and the last stored session: new prices can add the last rows)."""
    last_date = (st.session_state.get("data_summary") or {}).get("last_date")
    return _backtest(_where(), forecasts.get("sha256") or "", last_date, forecasts["mode"], forecasts["refit_months"],
                     rule, zero_costs)


@st.cache_data(ttl=3600, max_entries=32, show_spinner="Scoring the stored walk-forward forecasts...")
def _simulated_record(where: tuple, forecasts_sha256: str, last_date: str | None, mode: str, refit_months: int) -> dict:
    return backend().simulated_record(mode, refit_months)


def simulated_record(forecasts: dict) -> dict:
    """The simulated track record of one stored forecasts file, cached per file content (and the
    last stored session: new prices can label the last rows)."""
    last_date = (st.session_state.get("data_summary") or {}).get("last_date")
    return _simulated_record(_where(), forecasts.get("sha256") or "", last_date, forecasts["mode"],
                             forecasts["refit_months"])


def metric_row():
    """A row of `st.metric` cards that wraps onto more lines when the page is too narrow for all of
    them (a 1024 px window with the sidebar open): in `st.columns` each card keeps its share of the
    width, and Streamlit cuts a value that does not fit with an ellipsis ("86,16…"). Use it as
    `with common.metric_row(): st.metric(...)`, once per card."""
    return st.container(horizontal=True, wrap=True, gap="medium")


def attempt(call: Callable[[], T], *, missing_model: str = "error") -> T | None:
    """`call()`, or None after showing its one-sentence error. Without a production model the
    page says what to do (`missing_model`: "error", "warning" or "silent")."""
    try:
        return call()
    except ModelNotFoundError as exc:
        if missing_model == "warning":
            shown = universe()
            st.warning(no_model_advice(shown.spec, shown.is_default) if "No production model" in str(exc) else str(exc))
        elif missing_model == "error":
            st.error(str(exc))
        return None
    except SensexError as exc:
        st.error(str(exc))
        return None


def latest_forecast(*, missing_model: str = "warning") -> dict | None:
    """The latest forecast: computed on load, so nobody has to click to see it."""
    forecast = attempt(backend().predict, missing_model=missing_model)
    if forecast is not None:
        st.session_state["forecast"] = forecast
    return forecast


_release_wanted = threading.Event()
_releaser = threading.Lock()  # held while the releasing thread runs


def _collect_and_trim() -> None:
    gc.collect()  # frames in reference cycles first, so their memory is free to hand back
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)  # every arena, not only this thread's
    except (OSError, AttributeError):  # not glibc: nothing to trim
        pass


def _release_while_wanted() -> None:
    while True:
        try:
            while _release_wanted.is_set():
                _release_wanted.clear()
                _collect_and_trim()
        finally:
            _releaser.release()
        # A run that ended just now found the releaser busy: release for it too.
        if not (_release_wanted.is_set() and _releaser.acquire(blocking=False)):
            return


def release_memory() -> None:
    """Hand the heap that a script run freed back to the OS. Each run happens on its own
    thread, and glibc keeps what a thread's arena freed: without this the dashboard grows by
    the peak of every page (about 150 MB after visiting them all, measured by bench/app.py).
    In a thread of its own (one at a time, again after runs that end meanwhile), so the page
    is drawn without waiting for it: a full collection and the trim take 0.1-0.3 s."""
    _release_wanted.set()
    if _releaser.acquire(blocking=False):
        threading.Thread(target=_release_while_wanted, name="sensex-release-memory", daemon=True).start()
