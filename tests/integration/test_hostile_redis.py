"""Another party writes into the shared Redis (the real one on 127.0.0.1:6379; skipped when absent):
values planted under the forecast and market keys. Every one is a miss, is deleted and is
computed again; no request answers 500, on this replica or a second one, and `/health` says
`degraded` with the reason while it happens.

Each test uses its own key prefix and deletes everything under it afterwards.
"""

from __future__ import annotations

import json
import os
import uuid

import pytest
from fastapi.testclient import TestClient

from sensex.core.cache import conforms, decode
from sensex.core.settings import load_settings
from sensex.interfaces.api import create_app

REDIS_URL = os.environ.get("SENSEX_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

pytestmark = [pytest.mark.integration, pytest.mark.services]

COLUMNS = ["date", "symbol", "open", "high", "low", "close", "adj_close", "volume"]
FRAME_WITH_1E400 = json.dumps({
    "__sensex_type__": "frame", "columns": COLUMNS,
    "dtypes": ["datetime64[ns]", "object", "float64", "float64", "float64", "float64", "float64", "float64"],
    "data": [[1640908800000000000], ["SENSEX"], [1.0], [1.0], [1.0], [1.0], [1.0], [1.0]],
}).replace("[1.0], [1.0]]", "[1.0], [1e400]]").encode()
PLANTED = {"not JSON": b"hello", "a string": b'"hello"', "a list": b"[1,2,3]", "NaN": b"NaN", "an object": b'{"a":1}',
           "100k deep": b"[" * 100_000 + b"]" * 100_000, "a frame holding 1e400": FRAME_WITH_1E400,
           "a forecast missing fields": b'{"direction": "UP", "probability": 0.5, "target_date": "2022-01-03"}'}


def _redis_or_skip():
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5, socket_timeout=2)
    try:
        client.ping()
    except (redis.exceptions.RedisError, OSError) as error:
        pytest.skip(f"Redis is not reachable at {REDIS_URL} ({error}): start redis-server to run")
    return client


@pytest.fixture
def redis_home(own_home):
    client = _redis_or_skip()
    prefix = f"sensex-test-{uuid.uuid4().hex[:12]}:"
    settings = load_settings({"SENSEX_HOME": str(own_home.home), "SENSEX_REDIS_URL": REDIS_URL,
                              "SENSEX_REDIS_PREFIX": prefix})
    yield settings, client, prefix
    names = list(client.scan_iter(match=f"{prefix}*", count=500))
    if names:
        client.delete(*names)


def _replica(settings) -> TestClient:
    """A fresh API process's state: its own ModelServer and fetcher, the shared Redis."""
    return TestClient(create_app(settings), raise_server_exceptions=False)


def _families(client, prefix: str) -> dict[str, list[bytes]]:
    found: dict[str, list[bytes]] = {}
    for name in client.scan_iter(match=f"{prefix}cache:*", count=500):
        key = name.decode()[len(f"{prefix}cache:"):]
        found.setdefault(key.split(":", 1)[0], []).append(name)
    return found


ROUTES = [("POST", "/predict", {}), ("POST", "/predict", {"json": {}}), ("GET", "/market", {}),
          ("GET", "/market/history", {}), ("GET", "/market/history", {"params": {"sessions": 20}})]


@pytest.mark.parametrize("value", PLANTED.values(), ids=PLANTED.keys())
def test_planted_values_are_misses_deleted_and_never_a_500(redis_home, value):
    settings, client, prefix = redis_home
    with _replica(settings) as first:  # fills the shared cache
        answers = {(method, path, str(kwargs)): first.request(method, path, **kwargs).json()
                   for method, path, kwargs in ROUTES}
    families = _families(client, prefix)
    assert {"forecast", "overview", "history", "index_history"} <= set(families), families
    planted = [name for family in ("forecast", "overview", "history", "index_history") for name in families[family]]
    for name in planted:
        client.set(name, value, px=600_000)
    with _replica(settings) as second:  # a second replica: nothing of its own in memory
        computed = second.post("/predict")  # the planted entry is a miss: computed again
        assert computed.status_code == 200 and computed.json()["cached"] is False, computed.text
        for method, path, kwargs in ROUTES:
            response = second.request(method, path, **kwargs)
            assert response.status_code == 200, (path, response.status_code, response.text)
            body = response.json()
            expected = answers[(method, path, str(kwargs))]
            if path == "/predict":
                assert body["probability"] == expected["probability"]
            else:
                assert body == expected
        health = second.get("/health").json()
        assert health["status"] == "degraded" and health["checks"]["cache_consistent"] is False, health
        assert "not what their keys hold" in health["detail"]["cache_problem"]
        assert health["detail"]["cache_rejections"]["rejected"] >= len(planted)
    for name in planted:  # deleted, or rewritten with the right value
        stored = client.get(name)
        assert stored is None or (stored != value and conforms(name.decode()[len(f"{prefix}cache:"):], decode(stored)))


def test_a_forecast_in_another_shape_is_not_served_by_any_replica(redis_home):
    settings, client, prefix = redis_home
    with _replica(settings) as first:
        good = first.post("/predict").json()
    (name,) = _families(client, prefix)["forecast"]
    stored = json.loads(client.get(name))
    for bad in ({**stored, "probability": 7}, {**stored, "extra": 1}, {**stored, "direction": "SIDEWAYS"},
                {k: v for k, v in stored.items() if k != "note"}):
        client.set(name, json.dumps(bad), px=600_000)
        with _replica(settings) as other:
            response = other.post("/predict")
            assert response.status_code == 200 and response.json()["probability"] == good["probability"]
