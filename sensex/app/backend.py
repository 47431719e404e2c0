"""Where the dashboard gets its data: in-process serving, or the REST API when SENSEX_API_URL is set."""

from __future__ import annotations

import httpx

from sensex.errors import SensexError
from sensex.settings import Settings


class ApiError(SensexError):
    """The REST API answered with an error."""


class LocalBackend:
    def __init__(self, settings: Settings):
        from sensex.serving.model_server import ModelServer
        from sensex.serving.realtime_data import RealtimeDataFetcher

        self.settings = settings
        self.server = ModelServer(settings)
        self.fetcher = RealtimeDataFetcher(settings, self.server.universe, cache=None)

    def predict(self) -> dict:
        return self.server.predict()

    def health(self) -> dict:
        return self.server.health_check()

    def explain(self) -> dict:
        return self.server.explain()

    def predictions(self, limit: int = 50) -> list[dict]:
        return self.server.prediction_history(limit)

    def market_overview(self) -> dict:
        return self.fetcher.get_market_overview()

    def data_status(self) -> dict:
        return self.fetcher.validate_data_quality()

    def model_info(self) -> dict | None:
        try:
            return self.server.model_card()
        except SensexError:
            return None


class ApiBackend:
    def __init__(self, base_url: str):
        self.client = httpx.Client(base_url=base_url.rstrip("/"), timeout=30.0)

    def _get(self, path: str, method: str = "GET", **kwargs):
        response = self.client.request(method, path, **kwargs)
        if response.status_code >= 400 and path != "/health":
            raise ApiError(response.json().get("detail", f"The API answered {response.status_code}."))
        return response.json()

    def predict(self) -> dict:
        return self._get("/predict", "POST")

    def health(self) -> dict:
        return self._get("/health")

    def explain(self) -> dict:
        return self._get("/explain")

    def predictions(self, limit: int = 50) -> list[dict]:
        return self._get("/predictions", params={"limit": limit})["predictions"]

    def market_overview(self) -> dict:
        return self._get("/market")

    def data_status(self) -> dict:
        return self._get("/data/status")

    def model_info(self) -> dict | None:
        try:
            return self._get("/model")
        except ApiError:
            return None


def make_backend(settings: Settings):
    return ApiBackend(settings.api_url) if settings.api_url else LocalBackend(settings)
