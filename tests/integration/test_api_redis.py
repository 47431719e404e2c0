"""Two API processes, started as users start them, share one Redis cache."""

import os
import subprocess
import sys
import uuid

import httpx
import pytest
from conftest import free_port, wait_until_up

pytestmark = [pytest.mark.integration, pytest.mark.services, pytest.mark.slow]
REDIS_URL = os.environ.get("SENSEX_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _redis_or_skip():
    import redis

    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
        client.ping()
        return client
    except redis.RedisError as exc:
        pytest.skip(f"Redis is not reachable at {REDIS_URL} ({exc})")



def test_second_api_process_serves_the_first_ones_cached_forecast(trained_home):
    client = _redis_or_skip()
    prefix = f"sensex-test-{uuid.uuid4().hex[:8]}:"
    env = {**os.environ, "SENSEX_HOME": str(trained_home["settings"].home), "SENSEX_REDIS_URL": REDIS_URL,
           "SENSEX_REDIS_PREFIX": prefix, "SENSEX_LOG_LEVEL": "WARNING"}
    ports = [free_port(), free_port()]
    processes = [subprocess.Popen([sys.executable, "-m", "sensex", "serve", "--port", str(p)], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for p in ports]
    try:
        urls = [f"http://127.0.0.1:{p}" for p in ports]
        for url, process in zip(urls, processes, strict=True):
            wait_until_up(url, process)
        first = httpx.post(f"{urls[0]}/predict", timeout=60).json()
        second = httpx.post(f"{urls[1]}/predict", timeout=60).json()
        assert first["cached"] is False
        assert second["cached"] is True and second["probability"] == first["probability"]
        health = httpx.get(f"{urls[1]}/health", timeout=30).json()
        stats = health["detail"]["cache"]
        assert stats["backend"] == "redis" and stats["hits"] >= 1
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)
        for key in client.scan_iter(match=f"{prefix}*"):
            client.delete(key)
