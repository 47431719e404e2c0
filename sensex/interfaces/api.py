"""The REST API: a thin FastAPI shell over ModelServer. The model loads in `lifespan`.

Every failure is a declared status with a reason: 422 for a request the API cannot use (unknown
field, impossible date, an as-of the stored data cannot answer, NaN or Infinity anywhere in the
body), 413 for a body over MAX_BODY_BYTES, 503 when there is no model or no data (or the store
file is damaged: the sentence names it), never a 500 for bad input. What others wrote cannot
cause one either: a cached value that is not what its key holds is a miss (`sensex.core.cache`),
and `/health` reports a damaged store or a cache that held foreign entries as `degraded`, with
the reason, instead of failing. The docs at
`/docs` and `/redoc` load their JavaScript from this server (package `fastapi-offline`), not a CDN.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from importlib.resources import files
from typing import Annotated, Literal

from anyio import to_thread
from fastapi import FastAPI, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from sensex.core import memory
from sensex.core.cache import MemoryCache
from sensex.core.errors import ConfigError, DataError, SensexError, storage_error
from sensex.core.redaction import install_log_redaction, redact_text
from sensex.core.settings import Settings, get_settings
from sensex.data import store
from sensex.data.realtime_data import RealtimeDataFetcher
from sensex.interfaces.api_schema import (
    AS_OF_HELP,
    IsoDate,
    PredictRequest,
    RuleName,
    json_safe,
    validation_sentence,
)
from sensex.interfaces.api_schema import declared_errors as _errors
from sensex.interfaces.http_limits import MAX_CONNECTIONS, limit_body
from sensex.interfaces.pacing import HEAVY_RATE, Pacer
from sensex.market import dates
from sensex.monitoring.drift import DEFAULT_HISTORY_STEP, DEFAULT_RECENT_SESSIONS, MIN_SESSIONS
from sensex.serving import views
from sensex.serving.forecast import Forecast
from sensex.serving.member_forecasts import forecast_part
from sensex.serving.model_server import ModelServer

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024  # a forecast request is a few bytes of JSON
DOCS_ASSETS = "/docs-assets"


def _health(server: ModelServer) -> dict:
    return server.health_check()  # total: a damaged store or cache is a `degraded` report, never an error


def _json(body: bytes) -> Response:
    """An answer already encoded (`serving.views.answer_json`): sent as it is."""
    return Response(content=body, media_type="application/json")


def _package_version() -> str:
    try:
        return version("sensex")
    except PackageNotFoundError:
        return "unknown"


def create_app(settings: Settings | None = None, server: ModelServer | None = None) -> FastAPI:
    install_log_redaction()
    memory.limit_arenas()  # before the worker threads exist: see sensex/core/memory.py
    settings = settings or get_settings()
    metrics = CollectorRegistry()
    requests = Counter("sensex_predictions_total", "Forecasts served", ["cached"], registry=metrics)
    failures = Counter("sensex_prediction_errors_total", "Forecast requests that failed", ["error"], registry=metrics)
    latency = Histogram("sensex_prediction_seconds", "Forecast latency", registry=metrics,
                        buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))

    # Read at scrape time from the server's own state, so they cannot drift from /health.
    model_version = Gauge("sensex_model_version", "Production model version being served (0: none)", registry=metrics)
    cache_hits = Gauge("sensex_cache_hits", "Cache hits as the cache backend counts them", registry=metrics)
    cache_misses = Gauge("sensex_cache_misses", "Cache misses as the cache backend counts them", registry=metrics)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # Sync routes run on worker threads (40 by default). Requests waiting their turn for a
        # forecast or a heavy view hold a thread each while they wait, so 40 of them would leave
        # `/health` and cached answers queuing for a thread: one thread per allowed connection.
        to_thread.current_default_thread_limiter().total_tokens = MAX_CONNECTIONS
        app.state.server = server or ModelServer(settings)
        app.state.server.compute_elsewhere = True  # new inputs and heavy views: in worker processes
        app.state.fetcher = RealtimeDataFetcher(settings, app.state.server.universe)
        served = app.state.server
        model_version.set_function(lambda: float((served.model_info or {}).get("version") or 0))
        cache_hits.set_function(lambda: float(served.cache.stats().get("hits") or 0))
        cache_misses.set_function(lambda: float(served.cache.stats().get("misses") or 0))
        try:
            app.state.server.load_production_model()
        except SensexError as exc:  # the API still starts; /health says why it cannot forecast
            log.warning("Starting without a model: %s", exc)
        stop = threading.Event()
        watcher = threading.Thread(target=watch_registry, args=(app, stop), name="sensex-model-watch", daemon=True)
        watcher.start()
        # What startup built (modules, the model, the parsed store's metadata) lives as long as the
        # process: out of the collector's sight, a full collection walks only what requests create,
        # not the hundreds of thousands of objects the imports made.
        gc.collect()
        gc.freeze()
        yield
        stop.set()

    def watch_registry(app: FastAPI, stop: threading.Event) -> None:
        """Hot reload: every SENSEX_RELOAD_SECONDS ask whether the production alias moved; each
        server loads, smoke-tests and swaps the new version itself (`ModelServer.check_for_new_model`)."""
        while not stop.wait(settings.reload_seconds):
            with mode_lock:
                servers = [app.state.server, *mode_servers.values()]
            for served in servers:
                try:
                    served.check_for_new_model()
                except Exception:  # noqa: BLE001 - the watcher must outlive any one failure
                    log.exception("The check for a new production model failed")

    app = FastAPI(title="SENSEX forecaster", version=_package_version(), lifespan=lifespan,
                  description="Next-session direction of the S&P BSE SENSEX from the production model.",
                  docs_url=None, redoc_url=None)
    app.add_middleware(limit_body, limit=MAX_BODY_BYTES)

    @app.exception_handler(SensexError)
    async def sensex_error(_: Request, exc: SensexError):
        failures.labels(type(exc).__name__).inc()
        return JSONResponse(status_code=exc.http_status, content={"detail": str(exc), "error": type(exc).__name__})

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError):
        # The errors echo the input, which may hold NaN, Infinity or a lone surrogate: made safe first.
        errors = json_safe(jsonable_encoder(json_safe(exc.errors()), custom_encoder={Exception: str}))
        return JSONResponse(status_code=422, content={
            "detail": validation_sentence(exc.errors()), "error": "RequestValidationError", "errors": errors})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException):
        if exc.status_code == 400:  # FastAPI's "error parsing the body" (e.g. bytes that are not UTF-8)
            return JSONResponse(status_code=422, content={
                "detail": 'The request body is not JSON: send an object such as {"as_of": "2021-12-15"}, or no body.',
                "error": "RequestValidationError"})
        return JSONResponse(status_code=exc.status_code, headers=exc.headers,
                            content={"detail": str(exc.detail), "error": "HTTPException"})

    @app.exception_handler(OSError)
    async def home_error(request: Request, exc: OSError):  # a read-only or full SENSEX_HOME
        return await sensex_error(request, storage_error(exc, settings.home))

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception):  # a bug: still JSON with a sentence, never a traceback
        # (Starlette raises the exception again once this answer is sent: the server logs its traceback.)
        failures.labels(type(exc).__name__).inc()
        return JSONResponse(status_code=500, content={
            "detail": redact_text(f"{type(exc).__name__}: {str(exc)[:200]} (this is unexpected: the server log has the"
                                  " traceback; please report it)."), "error": type(exc).__name__})

    # -- docs, served from this process (offline) -----------------------------------------------
    app.mount(DOCS_ASSETS, StaticFiles(directory=str(files("fastapi_offline") / "static")), name="docs-assets")

    @app.get("/", include_in_schema=False)
    def root():
        return RedirectResponse("/docs")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=app.openapi_url, title=f"{app.title} - Swagger UI",
                                   swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
                                   swagger_favicon_url=f"{DOCS_ASSETS}/favicon.png",
                                   # the validator badge would call validator.swagger.io
                                   swagger_ui_parameters={"validatorUrl": None})

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        page = get_redoc_html(openapi_url=app.openapi_url, title=f"{app.title} - ReDoc",
                              redoc_js_url=f"{DOCS_ASSETS}/redoc.standalone.js",
                              redoc_favicon_url=f"{DOCS_ASSETS}/favicon.png", with_google_fonts=False)
        # ReDoc's footer fetches Redocly's logo from their CDN: keep the page from calling out at all.
        page.headers["Content-Security-Policy"] = "img-src 'self' data: blob:"
        return page

    def checked_as_of(server: ModelServer, as_of: str | None) -> str | None:
        """Refuse an as-of outside what the store holds (422) instead of answering for another date."""
        if as_of is not None:
            meta = store.read_meta(server.settings.store_dir) or {}
            dates.check_as_of(as_of, meta.get("first_date"), meta.get("last_date"), name="as_of")
        return as_of

    # -- routes ---------------------------------------------------------------------------------
    @app.get("/health", responses={503: {"description": "Unhealthy: the body says why"}})
    async def health(request: Request):
        served = request.app.state.server
        # With a model in memory and the cache in this process, the check reads only memory and two
        # small local files (the model's probe is done once): answered on the event loop, it does not
        # queue for the interpreter behind the worker threads. Otherwise (Redis is a network call; no
        # model means a load or a registry lookup) it runs on a worker thread.
        if served.model_info is not None and isinstance(served.cache, MemoryCache):
            report = _health(served)
        else:
            report = await run_in_threadpool(_health, served)
        return JSONResponse(status_code=503 if report["status"] == "unhealthy" else 200, content=json_safe(report))

    @app.get("/version")
    def version_info(request: Request):
        info = request.app.state.server.model_info or {}
        return {"package": _package_version(), "model_name": info.get("name"), "model_version": info.get("version")}

    @app.get("/model", responses=_errors(503))
    def model(request: Request):
        return request.app.state.server.model_card()

    heavy_pace = Pacer(HEAVY_RATE)  # the heavy routes' share of this process (`interfaces.pacing`)
    mode_servers: dict[str, ModelServer] = {}
    mode_lock = threading.Lock()

    def server_for(app: FastAPI, mode: str) -> ModelServer:
        """The lifespan's server for its own mode; another mode's server is made (and its model
        loaded) on its first request, so an API without a pre-open model still serves close."""
        served = app.state.server
        if mode == served.mode:
            return served
        with mode_lock:
            if mode not in mode_servers:
                mode_servers[mode] = ModelServer(served.settings, served.universe, mode=mode)
                mode_servers[mode].compute_elsewhere = True
            return mode_servers[mode]

    # Unset fields are left out, so `members` and `sectors` appear only when the model has them.
    @app.post("/predict", response_model=Forecast, response_model_exclude_unset=True, responses=_errors(413, 422, 503))
    async def predict(request: Request, body: PredictRequest | None = None):
        started = time.perf_counter()
        body = body or PredictRequest()
        served = request.app.state.server
        # A forecast this process already holds is answered here on the event loop; anything
        # else (computing, Redis, another mode's first model load) runs on a worker thread.
        forecast = served.cached_forecast(body.as_of) if body.mode == served.mode else None
        if forecast is None:
            def compute() -> dict:
                server = server_for(request.app, body.mode)
                return server.predict(checked_as_of(server, body.as_of))

            forecast = await run_in_threadpool(compute)
        latency.observe(time.perf_counter() - started)
        requests.labels(str(forecast["cached"]).lower()).inc()
        return forecast

    # The same forecast as POST /predict, logged like it: computed here unlogged, it would be cached
    # and the next /predict for the same data would go unlogged.
    @app.get("/members", responses=_errors(404, 422, 503))
    def members(request: Request, as_of: Annotated[IsoDate, Query(description=AS_OF_HELP, examples=["2021-12-15"])] = None):
        """Each member's next-session P(UP), ranked; 404 when the model has no member outputs."""
        server = request.app.state.server
        return forecast_part(server.predict(checked_as_of(server, as_of)), "members")

    @app.get("/sectors", responses=_errors(404, 422, 503))
    def sectors(request: Request, as_of: Annotated[IsoDate, Query(description=AS_OF_HELP, examples=["2021-12-15"])] = None):
        """Each sector's next-session P(UP), derived from its members; 404 when the model has none."""
        server = request.app.state.server
        return forecast_part(server.predict(checked_as_of(server, as_of)), "sectors")

    async def heavy_answer(request: Request, view: str, *args) -> Response:
        """A heavy view's answer: from this process's kept bytes on the event loop when it has
        them (a dict lookup: no thread, no lock wait behind the threads computing), else made on
        a worker thread (`serving.views.answer_json`)."""
        await heavy_pace.wait()
        served = request.app.state.server
        if served.model_info is not None:
            kept = views.kept_answer(served, view, *args)
            if kept is not None:
                return _json(kept)
        return _json(await run_in_threadpool(views.answer_json, served, view, *args))

    @app.get("/explain", responses=_errors(422, 503))
    async def explain(request: Request,
                      as_of: Annotated[IsoDate, Query(description=AS_OF_HELP, examples=["2021-12-15"])] = None):
        return await heavy_answer(request, "explain", checked_as_of(request.app.state.server, as_of))

    @app.get("/drift", responses=_errors(422, 503))
    async def drift(request: Request,
                    start: Annotated[IsoDate, Query(description="First session to score (default: after the test window).")] = None,
                    end: Annotated[IsoDate, Query(description="Last session to score (default: the last stored).")] = None,
                    sessions: int | None = Query(None, ge=20, le=5000, description="Latest sessions the feature drift"
                                                                                     " compares with training (default 60).")):
        """Performance on unseen sessions, feature drift (PSI per family), the live record: each
        with `severity` (ok, watch, retrain; not_judged with `judged: false` when too few sessions) and
        `reason`, then the overall `severity` (the worst judged one; not_judged when none is) and
        `recommendation`."""
        dates.check_order(start, end)
        return await heavy_answer(request, "drift", start, end, sessions)

    @app.get("/drift/history", responses=_errors(422, 503))
    async def drift_history(request: Request,
                            step: int = Query(DEFAULT_HISTORY_STEP, ge=1, le=1000,
                                              description="Sessions between two as-of points."),
                            sessions: int = Query(DEFAULT_RECENT_SESSIONS, ge=MIN_SESSIONS, le=5000,
                                                  description="Trailing sessions each point's PSI and rolling AUC and"
                                                              " Brier read.")):
        """Drift over time: as-of points every `step` sessions from the end of the model's training
        window to the last stored session, each with the feature PSI per family (and its severity)
        and the rolling AUC and Brier beside always-UP's on labels known by that date."""
        return await heavy_answer(request, "drift_history", step, sessions)

    @app.get("/predictions", responses=_errors(422, 503))
    def predictions(request: Request, limit: int = Query(50, ge=1, le=5000)):
        return {"predictions": request.app.state.server.prediction_history(limit)}

    @app.get("/market", responses=_errors(422, 503))
    async def market(request: Request):
        await heavy_pace.wait()
        return await run_in_threadpool(request.app.state.fetcher.get_market_overview)

    @app.get("/market/clock", responses=_errors(503))
    def market_clock(request: Request):
        """BSE's market clock (exchange-local times), the live SENSEX when online (null with
        `live_reason` otherwise, cached 5 minutes) and the last stored close."""
        from sensex.data.market_status import market_status

        server = request.app.state.server
        return market_status(server.settings, server.universe, cache=server.cache)

    @app.get("/market/history", responses=_errors(422, 503))
    def market_history(request: Request, sessions: int = Query(250, ge=1, le=20000)):
        fetcher = request.app.state.fetcher
        return {"symbol": fetcher.universe.index_symbol, "sessions": fetcher.get_index_history(sessions)}

    @app.get("/data/status", responses=_errors(422, 503))
    def data_status(request: Request):
        return request.app.state.fetcher.validate_data_quality()

    @app.get("/backtest/forecasts", responses=_errors(503))
    def backtest_forecasts(request: Request):
        """The stored walk-forward forecasts files `GET /backtest` can trade (`sensex evaluate --walk-forward`
        writes them): mode, refit period, sessions, SHA-256; the one written last last."""
        from sensex.backtest.report import stored_forecasts

        server = request.app.state.server
        return {"forecasts": stored_forecasts(server.settings, server.universe.key)}

    @app.get("/backtest", responses=_errors(422, 503))
    def backtest(request: Request, mode: Literal["close", "preopen"] = "close",
                 rule: Annotated[RuleName, Query(min_length=1, max_length=100,
                                                 description="long_flat | long_short | threshold:X | skip_no_call |"
                                                             " vol_target[:V], modifiers joined by '+'.")] = "long_flat",
                 costs: Literal["default", "zero"] = "default",
                 refit_months: int | None = Query(None, ge=1, le=240, description="The walk-forward refit every N"
                                                                                  " months (default: the one stored last).")):
        """`sensex backtest --walk-forward`, unlogged: the stored out-of-sample forecasts traded by `rule`
        with the shipped Indian costs (or none), beside buy-and-hold; the summary, the equity curves and
        the monthly returns."""
        from sensex.backtest.report import backtest_view

        server = request.app.state.server
        try:
            return json_safe(backtest_view(server.settings, server.universe, mode, rule, costs == "zero", refit_months))
        except ConfigError as exc:  # a rule these forecasts cannot trade (vol_target without a range forecast)
            raise DataError(str(exc)) from None

    @app.get("/backtest/record", responses=_errors(422, 503))
    def simulated_record(request: Request, mode: Literal["close", "preopen"] = "close",
                         refit_months: int | None = Query(None, ge=1, le=240, description="The walk-forward refit every"
                                                          " N months (default: the one stored last).")):
        """The simulated track record of the production recipe: the stored walk-forward forecasts scored
        like the live record (hit rate over calls, Brier, always-UP on the same sessions, per year,
        reliability). `simulated: true`: forecasts a refit schedule would have issued, not live ones."""
        from sensex.backtest.report import simulated_record_view

        server = request.app.state.server
        return json_safe(simulated_record_view(server.settings, server.universe, mode, refit_months))

    @app.get("/metrics", response_class=PlainTextResponse, responses={200: {
        "description": "Prometheus text exposition format",
        "content": {"text/plain": {"schema": {"type": "string"}}}}})
    def prometheus():
        return PlainTextResponse(generate_latest(metrics), media_type=CONTENT_TYPE_LATEST)

    return app
