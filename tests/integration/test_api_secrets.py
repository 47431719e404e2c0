"""A served API given credentials in SENSEX_REDIS_URL never shows them, in /health or in its log."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest
from conftest import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_redis_credentials_stay_out_of_health_and_logs(trained_home):
    from conftest import wait_until_up

    closed = free_port()  # nobody listens: the cache reports an outage, which is logged with its URL
    secrets = ("userinfo-pw", "query-pw")
    redis_url = f"redis://default:{secrets[0]}@127.0.0.1:{closed}/0?password={secrets[1]}&db=0"
    port = free_port()
    env = {**os.environ, "SENSEX_HOME": str(trained_home["settings"].home), "SENSEX_REDIS_URL": redis_url,
           "SENSEX_REDIS_PREFIX": "sensex-test-secrets:", "SENSEX_LOG_LEVEL": "INFO"}
    process = subprocess.Popen([sys.executable, "-m", "sensex", "serve", "--port", str(port)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, process)
        health = httpx.get(f"{url}/health", timeout=60)
        forecast = httpx.post(f"{url}/predict", json={}, timeout=120)
        metrics = httpx.get(f"{url}/metrics", timeout=30)
    finally:
        process.terminate()
        out, err = process.communicate(timeout=30)
    assert forecast.status_code == 200
    cache = health.json()["detail"]["cache"]
    assert cache["available"] is False and cache["url"].startswith("redis://***@127.0.0.1:")
    assert "password=***" in cache["url"]
    assert "unavailable" in err  # the outage was logged, with the URL ...
    for secret in secrets:
        for shown in (health.text, forecast.text, metrics.text, out, err):
            assert secret not in shown  # ... and without the password
