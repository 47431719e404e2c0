"""Where the dashboard gets its data: in-process serving, or the REST API when SENSEX_API_URL is set.

Both backends answer the same questions with the same plain data, so every page works in
both modes; nothing here computes features, models or statistics.
"""

from __future__ import annotations

import logging

import pandas as pd

from sensex.core.errors import ModelNotFoundError, SensexError
from sensex.core.settings import Settings
from sensex.market import calendar

log = logging.getLogger(__name__)


class ApiError(SensexError):
    """The REST API answered with an error."""


class ApiUnavailable(ApiError):
    """The REST API did not answer at all."""


def summarize_data(source: str | None, last_date: str | None, synthetic: bool | None = None) -> dict:
    """What every page needs to know about the stored data: where it comes from and how old it is."""
    expected = calendar.last_completed_session()
    behind = 0
    if last_date is not None and pd.Timestamp(last_date) < expected:
        behind = len(calendar.sessions(pd.Timestamp(last_date) + pd.Timedelta(days=1), expected))
    return {
        "available": last_date is not None,
        "source": source,
        "synthetic": bool(synthetic) if synthetic is not None else source == "synthetic",
        "last_date": last_date,
        "expected_last_date": str(expected.date()),
        "stale": last_date is None or behind > 0,
        "sessions_behind": behind,
        "days_old": (calendar.now_ist().date() - pd.Timestamp(last_date).date()).days if last_date else None,
    }


class LocalBackend:
    def __init__(self, settings: Settings):
        from sensex.data.realtime_data import RealtimeDataFetcher
        from sensex.serving.model_server import ModelServer

        self.settings = settings
        self.server = ModelServer(settings)
        self.fetcher = RealtimeDataFetcher(settings, self.server.universe, cache=None)
        self.mode_servers: dict[str, ModelServer] = {}  # other modes' servers, made on first use

    def warm(self) -> None:
        """Load the production model (ONNX session, smoke inference) and the latest inputs (from
        the window cache on disk), so the first forecast is one ONNX call. Computes no forecast:
        that is the page's, and it is logged. A failure is left for the page to show."""
        try:
            self.server.ensure_loaded()
        except SensexError as exc:
            log.debug("Warming the model server: %s", exc)
        self.data_summary()  # BSE's sessions from their file cache

    def predict(self) -> dict:
        return self.server.predict()

    def predict_mode(self, mode: str) -> dict:
        """The forecast of another mode's model (`preopen`), its server made on first use."""
        from sensex.serving.model_server import ModelServer

        if mode == self.server.mode:
            return self.server.predict()
        if mode not in self.mode_servers:
            self.mode_servers[mode] = ModelServer(self.settings, self.server.universe, mode=mode)
        return self.mode_servers[mode].predict()

    def may_serve(self, mode: str) -> bool:
        """False when nothing is registered for `mode` (no production model and no labelled
        baseline), asked without MLflow; True when a forecast may exist (predict_mode says)."""
        from sensex.market.modes import registered_model
        from sensex.registry.probe import registered_versions

        return registered_versions(self.settings, registered_model(mode, self.server.universe.key)) != []

    def market_clock(self) -> dict:
        from sensex.data.market_status import market_status

        return market_status(self.settings, self.server.universe, cache=self.server.cache)

    def health(self) -> dict:
        return self.server.health_check()

    def explain(self) -> dict:
        return self.server.explain()

    def drift(self) -> dict:
        return self.server.drift()

    def drift_history(self, step: int = 20, sessions: int = 60) -> dict:
        return self.server.drift_history(step, sessions)

    def predictions(self, limit: int = 50) -> list[dict]:
        return self.server.prediction_history(limit)

    def market_overview(self) -> dict:
        return self.fetcher.get_market_overview()

    def market_history(self, sessions: int) -> list[dict]:
        return self.fetcher.get_index_history(sessions)

    def data_status(self) -> dict:
        return self.fetcher.validate_data_quality()

    def data_summary(self) -> dict:
        """The store's source, and how old this universe's index rows are: one home holds several
        universes, and the one shown may have no rows, or older ones, than the others."""
        from sensex.data import store

        meta = store.read_meta(self.settings.store_dir) or {}
        index = (meta.get("symbols") or {}).get(self.server.universe.index_symbol) or {}
        return summarize_data(meta.get("source"), index.get("last"), meta.get("synthetic"))

    def universes(self) -> list[dict]:
        """The universes this home can show, the one served first (`sensex.data.universes`)."""
        from sensex.data.universes import universe_choices

        return universe_choices(self.settings)

    def track_record(self) -> dict:
        from sensex.core import jsonlog
        from sensex.data import store
        from sensex.monitoring.track_record import track_record

        records = jsonlog.read_universe(self.settings.logs_dir / jsonlog.PREDICTION_LOG, self.server.universe.key)
        closes = pd.Series(dtype=float)
        if records and store.exists(self.settings.store_dir):
            index = store.read(self.settings.store_dir, symbols=[self.server.universe.index_symbol])
            closes = index.set_index("date")["close"]
        return track_record(records, closes)

    def model_card(self) -> dict | None:
        """The production model's card, or None when there is none."""
        try:
            return self.server.model_card()
        except SensexError:
            return None

    def backtest_forecasts(self) -> list[dict]:
        """The stored walk-forward forecasts this universe's backtest can trade (`sensex.backtest.report`)."""
        from sensex.backtest.report import stored_forecasts

        return stored_forecasts(self.settings, self.server.universe.key)

    def backtest(self, mode: str, rule: str, zero_costs: bool, refit_months: int | None) -> dict:
        """The walk-forward's forecasts of `mode` traded by `rule`, unlogged (`sensex.backtest.report`)."""
        from sensex.backtest.report import backtest_view

        return backtest_view(self.settings, self.server.universe, mode, rule, zero_costs, refit_months)

    def simulated_record(self, mode: str, refit_months: int | None = None) -> dict:
        """The stored walk-forward forecasts of `mode` scored like the live record (`sensex.backtest.report`)."""
        from sensex.backtest.report import simulated_record_view

        return simulated_record_view(self.settings, self.server.universe, mode, refit_months)


class ApiBackend:
    def __init__(self, base_url: str):
        import httpx  # only in API mode

        self.base_url = base_url.rstrip("/")
        self.client = httpx.Client(base_url=self.base_url, timeout=30.0)

    def _get(self, path: str, method: str = "GET", **kwargs):
        import httpx

        try:
            response = self.client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ApiUnavailable(f"The API at {self.base_url} does not answer ({type(exc).__name__}): "
                           "start it with `sensex serve`, or unset SENSEX_API_URL to read the store directly.") from exc
        if response.status_code >= 400 and path != "/health":
            try:
                body = response.json()
            except ValueError:
                body = {}
            detail = body.get("detail") if isinstance(body, dict) else None
            message = detail if isinstance(detail, str) else f"The API answered {response.status_code} to {path}."
            if isinstance(body, dict) and body.get("error") == "ModelNotFoundError":
                raise ModelNotFoundError(message)  # the pages say what to do, as in-process
            raise ApiError(message)
        return response.json()

    def warm(self) -> None:
        """Nothing to load here: the API has the model."""

    def universes(self) -> list[dict]:
        return []  # the API serves the one universe `sensex serve --universe` started it with

    def predict(self) -> dict:
        return self._get("/predict", "POST")

    def predict_mode(self, mode: str) -> dict:
        return self._get("/predict", "POST", json={"mode": mode})

    def may_serve(self, mode: str) -> bool:
        return True  # the API says, when asked for the forecast

    def market_clock(self) -> dict:
        return self._get("/market/clock")

    def health(self) -> dict:
        return self._get("/health")

    def explain(self) -> dict:
        return self._get("/explain")

    def drift(self) -> dict:
        return self._get("/drift")

    def drift_history(self, step: int = 20, sessions: int = 60) -> dict:
        return self._get("/drift/history", params={"step": step, "sessions": sessions})

    def predictions(self, limit: int = 50) -> list[dict]:
        return self._get("/predictions", params={"limit": limit})["predictions"]

    def market_overview(self) -> dict:
        return self._get("/market")

    def market_history(self, sessions: int) -> list[dict]:
        return self._get("/market/history", params={"sessions": sessions})["sessions"]

    def data_status(self) -> dict:
        return self._get("/data/status")

    def data_summary(self) -> dict:
        data = self.health().get("detail", {}).get("data")
        data = data if isinstance(data, dict) else {}
        return summarize_data(data.get("source"), data.get("last_date"))

    def track_record(self) -> dict:
        from sensex.monitoring.track_record import track_record

        records = self.predictions(5000)
        closes = pd.Series(dtype=float)
        dated = [r["as_of"] for r in records if r.get("as_of")]
        if dated:
            # The closes from the earliest logged session on, and one before it.
            summary = self.data_summary()
            end = summary["last_date"] or min(dated)
            needed = len(calendar.sessions(min(dated), end)) + 2
            bars = self.market_history(needed)
            closes = pd.Series({pd.Timestamp(b["date"]): b["close"] for b in bars}, dtype=float)
        return track_record(records, closes)

    def model_card(self) -> dict | None:
        try:
            return self._get("/model")
        except ModelNotFoundError:  # the pages say what to do
            return None

    def backtest_forecasts(self) -> list[dict]:
        return self._get("/backtest/forecasts")["forecasts"]

    def backtest(self, mode: str, rule: str, zero_costs: bool, refit_months: int | None) -> dict:
        params = {"mode": mode, "rule": rule, "costs": "zero" if zero_costs else "default"}
        if refit_months is not None:
            params["refit_months"] = refit_months
        return self._get("/backtest", params=params)

    def simulated_record(self, mode: str, refit_months: int | None = None) -> dict:
        params = {"mode": mode} if refit_months is None else {"mode": mode, "refit_months": refit_months}
        return self._get("/backtest/record", params=params)


def make_backend(settings: Settings):
    return ApiBackend(settings.api_url) if settings.api_url else LocalBackend(settings)


def prepare(settings: Settings):
    """A backend made and warmed now (model loaded, latest inputs read): what `sensex app`'s warm-up
    thread hands to the first script run (`sensex.interfaces.app.warmup`)."""
    backend = make_backend(settings)
    backend.warm()
    return backend
