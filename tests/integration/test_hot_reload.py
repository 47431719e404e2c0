"""Hot reload: running API processes notice a moved production alias, load, smoke-test and swap
the new version without a failed request; a version that fails is refused and the old one serves."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import httpx
import pytest
from conftest import TINY_GATE, free_port, wait_until_up

from sensex.core import jsonlog
from sensex.core.errors import CorruptModelError
from sensex.registry import tracking
from sensex.registry.model_registry import MODEL_NAME, ModelRegistry
from sensex.serving.model_server import ModelServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]
RELOAD_SECONDS = 1.0


def register_again(settings) -> str:
    """A second version of the production run: a real new version, without training another model."""
    from mlflow import MlflowClient

    # Both URIs named: another test may have set MLflow's process-wide registry URI.
    # MLflow's SQL registry resolves a `models:/m-...` source through the process-wide tracking URI,
    # not the client's: point that at this home too (earlier tests configured other homes).
    tracking.configure(settings)
    client = MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)
    current = client.get_model_version_by_alias(MODEL_NAME, "production")
    return str(client.create_model_version(MODEL_NAME, source=current.source, run_id=current.run_id).version)


def start_api(settings, port: int) -> subprocess.Popen:
    env = {**os.environ, "SENSEX_HOME": str(settings.home), "SENSEX_RELOAD_SECONDS": str(RELOAD_SECONDS),
           "SENSEX_LOG_LEVEL": "WARNING"}
    return subprocess.Popen([sys.executable, "-m", "sensex", "serve", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_two_api_processes_serve_a_promoted_version_within_the_bound(own_home):
    ports = [free_port(), free_port()]
    processes = [start_api(own_home, port) for port in ports]
    failures: list[str] = []
    versions: dict[int, set] = {port: set() for port in ports}
    stop = threading.Event()

    def hammer(port: int) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            while not stop.is_set():
                response = client.post("/predict")
                if response.status_code != 200:
                    failures.append(f"{port}: {response.status_code} {response.text[:200]}")
                else:
                    versions[port].add(response.json()["model_version"])
                time.sleep(0.02)

    try:
        for port, process in zip(ports, processes, strict=True):
            wait_until_up(f"http://127.0.0.1:{port}", process, seconds=120, path="/health")
        threads = [threading.Thread(target=hammer, args=(port,)) for port in ports]
        for thread in threads:
            thread.start()
        new = register_again(own_home)
        ModelRegistry(own_home, promotion=TINY_GATE).promote_model_to_production(new)
        promoted = time.monotonic()
        # The bound: one check interval, plus loading and smoke-testing on a busy 2-core machine.
        bound = RELOAD_SECONDS + 20
        served = {}
        while time.monotonic() - promoted < bound and len(served) < len(ports):
            for port in ports:
                if port not in served and httpx.get(f"http://127.0.0.1:{port}/version").json()["model_version"] == new:
                    served[port] = time.monotonic() - promoted
            time.sleep(0.05)
        time.sleep(0.3)
        stop.set()
        for thread in threads:
            thread.join()
    finally:
        stop.set()
        for process in processes:
            process.terminate()
            process.wait(timeout=20)
    assert set(served) == set(ports), f"not every API served version {new} within {bound} s: {served}"
    assert failures == []
    assert all(new in seen for seen in versions.values())
    refused = [e for e in jsonlog.read(own_home.logs_dir / jsonlog.PROMOTION_LOG) if e["event_type"] == "refused_by_server"]
    assert refused == []


def test_a_new_version_that_fails_its_smoke_test_is_refused_and_the_old_one_serves(own_home, monkeypatch):
    server = ModelServer(own_home)
    server.load_production_model()
    before = server.predict(log_prediction=False)
    new = register_again(own_home)
    ModelRegistry(own_home, promotion=TINY_GATE).promote_model_to_production(new)

    real_smoke_test = ModelServer._smoke_test

    def failing(self, bundle, info):
        if info["version"] == new:  # the new version's inference fails as a broken graph would
            raise CorruptModelError(f"Version {new} fails its smoke inference (RuntimeException: broken graph): fix or"
                                    " retrain it.")
        return real_smoke_test(self, bundle, info)

    monkeypatch.setattr(ModelServer, "_smoke_test", failing)
    reason = server.check_for_new_model()
    assert f"Version {new} was refused" in reason and "keeps serving" in reason
    assert server.model_info["version"] == before["model_version"]
    assert server.predict(log_prediction=False)["probability"] == before["probability"]
    health = server.health_check()
    assert health["status"] == "degraded" and health["checks"]["model_current"] is False
    assert f"Version {new} was refused" in health["reason"]
    events = [e for e in jsonlog.read(own_home.logs_dir / jsonlog.PROMOTION_LOG) if e["event_type"] == "refused_by_server"]
    assert len(events) == 1 and events[0]["version"] == new and "smoke inference" in events[0]["reason"]
    assert server.check_for_new_model() is None  # refused once, not again every interval
    # A fixed model promoted later is taken.
    monkeypatch.setattr(ModelServer, "_smoke_test", real_smoke_test)
    fixed = register_again(own_home)
    ModelRegistry(own_home, promotion=TINY_GATE).promote_model_to_production(fixed)
    assert "serving" in server.check_for_new_model()
    assert server.model_info["version"] == fixed and "reload" not in server.notes


def test_the_smoke_test_refuses_a_model_that_answers_nan(own_home, monkeypatch):
    import numpy as np

    server = ModelServer(own_home)
    server.load_production_model()
    bundle, info = server.bundle, server.model_info
    monkeypatch.setattr(type(bundle), "probabilities", lambda self, windows, tabular=None: np.array([np.nan]))
    with pytest.raises(CorruptModelError, match="NaN"):
        server._smoke_test(bundle, info)


def test_a_window_that_cannot_be_prepared_does_not_blame_the_model(own_home, monkeypatch):
    """The smoke test judges the model: when the data side fails, the model is run on zeros and
    serves; health says why the check could not use the latest window."""
    def failing_inputs(self, bundle, as_of):
        raise RuntimeError("the data file went away")

    monkeypatch.setattr(ModelServer, "_latest_inputs", failing_inputs)
    server = ModelServer(own_home)
    assert server.load_production_model()["version"]
    health = server.health_check()
    assert health["checks"]["model_loaded"] and health["checks"]["model_inference"]
    assert "could not be prepared (RuntimeError: the data file went away)" in health["detail"]["serving"]["smoke"]
