"""Forecast caching under attack and under load: data-only cache entries, one computation and
one log line per key, whether the requests come as threads or as HTTP requests to a real server."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import threading
import uuid

import httpx
import pytest
from conftest import free_port

from sensex.core import jsonlog
from sensex.core.cache import MemoryCache, RedisCache
from sensex.serving.model_server import ModelServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]
REDIS_URL = os.environ.get("SENSEX_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _log_lines(settings, as_of: str) -> int:
    records = jsonlog.read(settings.logs_dir / jsonlog.PREDICTION_LOG)
    return sum(1 for record in records if record.get("as_of") == as_of)


class _WritesAFile:
    """Unpickling this creates a file: the payload of someone who can write to the Redis."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.mark.services
def test_a_crafted_pickle_under_the_forecast_key_is_a_miss_and_never_runs(trained_home, tmp_path):
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        pytest.skip(f"Redis is not reachable at {REDIS_URL} ({exc}): start redis-server to run")
    prefix = f"sensex-test-{uuid.uuid4().hex[:8]}:"
    settings = trained_home["settings"]
    try:
        server = ModelServer(settings, cache=RedisCache(REDIS_URL, prefix=prefix))
        first = server.predict("2021-09-15")
        keys = list(client.scan_iter(match=f"{prefix}cache:forecast:*"))
        assert first["cached"] is False and len(keys) == 1
        witness = tmp_path / "code-ran"
        client.set(keys[0], pickle.dumps(_WritesAFile(str(witness))), ex=300)

        again = server.predict("2021-09-15")
        assert not witness.exists()
        assert again["cached"] is False  # treated as a miss: computed afresh ...
        assert again["probability"] == first["probability"]
        assert server.predict("2021-09-15")["cached"] is True  # ... and stored as data again
        assert server.cache.stats()["errors"] >= 1
    finally:
        for key in client.scan_iter(match=f"{prefix}*"):
            client.delete(key)


def test_concurrent_identical_forecasts_compute_once_and_log_once(trained_home, monkeypatch):
    settings = trained_home["settings"]
    as_of = "2021-08-16"
    server = ModelServer(settings, cache=MemoryCache())
    server.ensure_loaded()
    computations = []
    real_window = server._latest_inputs

    def counting_window(*args, **kwargs):
        computations.append(1)
        return real_window(*args, **kwargs)

    monkeypatch.setattr(server, "_latest_inputs", counting_window)
    before = _log_lines(settings, as_of)
    barrier = threading.Barrier(32)
    results, errors = [], []

    def request():
        try:
            barrier.wait()
            results.append(server.predict(as_of))
        except BaseException as exc:  # noqa: BLE001 - surfaced by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=request) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(computations) == 1
    assert _log_lines(settings, as_of) - before == 1
    assert sorted(r["cached"] for r in results) == [False] + [True] * 31
    assert len({r["probability"] for r in results}) == 1


def test_32_concurrent_http_requests_compute_once(trained_home):
    """A real `sensex serve` process, 32 identical POST /predict at the same moment."""
    from conftest import wait_until_up

    settings = trained_home["settings"]
    as_of = "2021-07-15"
    before = _log_lines(settings, as_of)
    port = free_port()
    env = {**os.environ, "SENSEX_HOME": str(settings.home), "SENSEX_LOG_LEVEL": "WARNING"}
    env.pop("SENSEX_REDIS_URL", None)
    process = subprocess.Popen([sys.executable, "-m", "sensex", "serve", "--port", str(port)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, process)
        barrier = threading.Barrier(32)
        responses, errors = [], []

        def request():
            try:
                with httpx.Client(timeout=120) as client:
                    barrier.wait()
                    responses.append(client.post(f"{url}/predict", json={"as_of": as_of}))
            except BaseException as exc:  # noqa: BLE001 - surfaced by the assert below
                errors.append(exc)

        threads = [threading.Thread(target=request) for _ in range(32)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert [r.status_code for r in responses] == [200] * 32
        bodies = [r.json() for r in responses]
        assert sorted(b["cached"] for b in bodies) == [False] + [True] * 31
        metrics = httpx.get(f"{url}/metrics", timeout=30).text
        assert 'sensex_predictions_total{cached="false"} 1.0' in metrics
        assert 'sensex_predictions_total{cached="true"} 31.0' in metrics
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert _log_lines(settings, as_of) - before == 1


def test_computations_in_flight_are_bounded_by_the_compute_slots(trained_home, monkeypatch):
    """Distinct dates at once: no more computations run together than there are slots (memory
    and GIL contention grow with each one in flight)."""
    from sensex.serving import model_server

    monkeypatch.setattr(model_server, "COMPUTE_SLOTS", threading.BoundedSemaphore(2))
    server = ModelServer(trained_home["settings"], cache=MemoryCache())
    server.ensure_loaded()
    real_window = server._latest_inputs
    running, most = [0], [0]
    guard = threading.Lock()

    def counting_window(*args, **kwargs):
        with guard:
            running[0] += 1
            most[0] = max(most[0], running[0])
        try:
            return real_window(*args, **kwargs)
        finally:
            with guard:
                running[0] -= 1

    monkeypatch.setattr(server, "_latest_inputs", counting_window)
    days = [f"2021-10-{d:02d}" for d in range(4, 16)]
    barrier = threading.Barrier(len(days))
    results = []

    def request(day):
        barrier.wait()
        results.append(server.predict(day, log_prediction=False))

    threads = [threading.Thread(target=request, args=(day,)) for day in days]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == len(days) and all(r["cached"] is False for r in results)
    assert most[0] <= 2  # without the slots all twelve run at once


def test_the_event_loop_answer_is_the_cached_forecast_and_never_computes(trained_home, monkeypatch):
    """`cached_forecast` (what POST /predict answers on its event loop) returns exactly what
    `predict` returns for a cached forecast, and None whenever answering would mean work."""
    settings = trained_home["settings"]
    server = ModelServer(settings, cache=MemoryCache())
    assert server.cached_forecast("2021-06-15") is None  # no model loaded yet: never loads one
    server.ensure_loaded()
    assert server.cached_forecast("2021-06-15") is None  # not computed yet: never computes

    def no_computing(*args, **kwargs):
        raise AssertionError("cached_forecast computed a forecast")

    first = server.predict("2021-06-15")
    monkeypatch.setattr(server, "_latest_inputs", no_computing)
    held = server.cached_forecast("2021-06-15")
    again = server.predict("2021-06-15")
    assert held is not None and held["cached"] is True and first["cached"] is False
    ignored = {"cached", "logged", "issued_at"}
    assert {k: v for k, v in held.items() if k not in ignored} == {k: v for k, v in again.items() if k not in ignored}
    assert server.cached_forecast("2021-06-16") is None  # another date is another forecast

    # With a shared cache, Redis is I/O, left to a worker thread; the process answers from its
    # own copies of the forecasts it served (here Redis is down: served all the same).
    shared = ModelServer(settings, cache=RedisCache("redis://127.0.0.1:1/0", prefix="unused:"))
    shared.ensure_loaded()
    assert shared.cached_forecast("2021-06-15") is None
    served = shared.predict("2021-06-15", log_prediction=False)
    copy = shared.cached_forecast("2021-06-15")
    assert copy is not None and copy["cached"] is True and copy["probability"] == served["probability"]
