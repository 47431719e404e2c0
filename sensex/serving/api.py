"""The REST API: a thin FastAPI shell over ModelServer. The model loads in `lifespan`."""

from __future__ import annotations

import logging
import threading
import time
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import Literal

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from pydantic import BaseModel, Field

from sensex.errors import SensexError
from sensex.redaction import install_log_redaction
from sensex.serving.forecast import Forecast
from sensex.serving.model_server import ModelServer
from sensex.serving.realtime_data import RealtimeDataFetcher
from sensex.settings import Settings, get_settings

log = logging.getLogger(__name__)


class PredictRequest(BaseModel):
    as_of: str | None = Field(None, description="Forecast from this stored session (YYYY-MM-DD); default latest.",
                              pattern=r"^\d{4}-\d{2}-\d{2}$")
    mode: Literal["close", "preopen"] = Field(
        "close", description="close: after BSE's close; preopen: before BSE opens, with the overnight S&P 500.")


def _package_version() -> str:
    try:
        return version("sensex")
    except PackageNotFoundError:
        return "unknown"


def create_app(settings: Settings | None = None, server: ModelServer | None = None) -> FastAPI:
    install_log_redaction()
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
        app.state.server = server or ModelServer(settings)
        app.state.fetcher = RealtimeDataFetcher(settings, app.state.server.universe)
        served = app.state.server
        model_version.set_function(lambda: float((served.model_info or {}).get("version") or 0))
        cache_hits.set_function(lambda: float(served.cache.stats().get("hits") or 0))
        cache_misses.set_function(lambda: float(served.cache.stats().get("misses") or 0))
        try:
            app.state.server.load_production_model()
        except SensexError as exc:  # the API still starts; /health says why it cannot forecast
            log.warning("Starting without a model: %s", exc)
        yield

    app = FastAPI(title="SENSEX forecaster", version=_package_version(), lifespan=lifespan,
                  description="Next-session direction of the S&P BSE SENSEX from the production model.")

    @app.exception_handler(SensexError)
    async def sensex_error(_: Request, exc: SensexError):
        failures.labels(type(exc).__name__).inc()
        return JSONResponse(status_code=exc.http_status, content={"detail": str(exc), "error": type(exc).__name__})

    @app.get("/health")
    def health(request: Request):
        report = request.app.state.server.health_check()
        return JSONResponse(status_code=503 if report["status"] == "unhealthy" else 200, content=report)

    @app.get("/version")
    def version_info(request: Request):
        info = request.app.state.server.model_info or {}
        return {"package": _package_version(), "model_name": info.get("name"), "model_version": info.get("version")}

    @app.get("/model")
    def model(request: Request):
        return request.app.state.server.model_card()

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
            return mode_servers[mode]

    @app.post("/predict", response_model=Forecast)
    def predict(request: Request, body: PredictRequest | None = None):
        started = time.perf_counter()
        body = body or PredictRequest()
        forecast = server_for(request.app, body.mode).predict(body.as_of)
        latency.observe(time.perf_counter() - started)
        requests.labels(str(forecast["cached"]).lower()).inc()
        return forecast

    @app.get("/explain")
    def explain(request: Request, as_of: str | None = Query(None, pattern=r"^\d{4}-\d{2}-\d{2}$")):
        return request.app.state.server.explain(as_of)

    @app.get("/predictions")
    def predictions(request: Request, limit: int = Query(50, ge=1, le=5000)):
        return {"predictions": request.app.state.server.prediction_history(limit)}

    @app.get("/market")
    def market(request: Request):
        return request.app.state.fetcher.get_market_overview()

    @app.get("/market/history")
    def market_history(request: Request, sessions: int = Query(250, ge=1, le=20000)):
        fetcher = request.app.state.fetcher
        return {"symbol": fetcher.universe.index_symbol, "sessions": fetcher.get_index_history(sessions)}

    @app.get("/data/status")
    def data_status(request: Request):
        return request.app.state.fetcher.validate_data_quality()

    @app.get("/metrics")
    def prometheus():
        return PlainTextResponse(generate_latest(metrics), media_type=CONTENT_TYPE_LATEST)

    return app
