"""Bad registry state while serving: an alias to a missing version, a corrupt pointer, a checksum
mismatch, a tracking server down at start or gone while serving. Each: one clear sentence, the
served model unchanged, `/health` says why."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import free_port

from sensex.core.errors import ModelNotFoundError, RegistryUnavailable
from sensex.core.settings import load_settings
from sensex.registry.pointer import pointer_path, read_pointer, write_pointer
from sensex.serving.model_server import ModelServer

pytestmark = pytest.mark.integration
MODEL = "sensex-convlstm-model"


def point_alias_at_missing_version(settings) -> None:
    db = sqlite3.connect(settings.home / "mlflow.db")
    with db:
        db.execute("UPDATE registered_model_aliases SET version = 99 WHERE name = ? AND alias = 'production'", (MODEL,))
    db.close()


def test_an_alias_to_a_missing_version(own_home):
    running = ModelServer(own_home)
    before = running.predict(log_prediction=False)
    point_alias_at_missing_version(own_home)
    with pytest.raises(ModelNotFoundError, match="points at version 99, which does not exist: promote an existing"):
        ModelServer(own_home).load_production_model()
    running.check_for_new_model()
    assert running.predict(log_prediction=False)["probability"] == before["probability"]
    health = running.health_check()
    assert health["status"] == "degraded" and "version 99" in health["reason"] and "keeps serving" in health["reason"]
    out = subprocess.run([sys.executable, "-m", "sensex", "predict"], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "SENSEX_HOME": str(own_home.home)})
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith("error: The production alias of sensex-convlstm-model points at")


def test_a_corrupt_pointer_while_serving_changes_nothing_and_is_rewritten_on_start(own_home):
    running = ModelServer(own_home)
    before = running.predict(log_prediction=False)
    pointer_path(own_home, MODEL).write_bytes(b"\x00\xff garbage")
    assert running.check_for_new_model() is None
    assert running.predict(log_prediction=False)["probability"] == before["probability"]
    fresh = ModelServer(own_home)
    assert fresh.predict(log_prediction=False)["probability"] == before["probability"]
    assert read_pointer(own_home, MODEL).version == before["model_version"]


def test_a_checksum_mismatch_is_refetched_and_never_served(own_home):
    from sensex.models.bundle import ONNX_FILE

    running = ModelServer(own_home)
    before = running.predict(log_prediction=False)
    pointer = read_pointer(own_home, MODEL)
    path = pointer_path(own_home, MODEL)
    path.write_text(json.dumps({**json.loads(path.read_text()), "sha256": "0" * 64}))  # pointer disagrees with bundle
    (pointer.bundle_dir(own_home) / ONNX_FILE).write_bytes(os.urandom(1024))  # and the bundle is damaged
    assert running.health_check()["checks"]["model_inference"] is True  # the loaded model is in memory
    fresh = ModelServer(own_home)
    assert fresh.predict(log_prediction=False)["probability"] == before["probability"]
    assert read_pointer(own_home, MODEL).sha256 == pointer.sha256  # fetched again, pointer repaired


class FakeMlflowRest(BaseHTTPRequestHandler):
    """MLflow's REST answer to `GET /api/2.0/mlflow/registered-models/alias` (its documented shape)."""

    answer: dict = {}

    def do_GET(self):  # noqa: N802 - the http.server API
        body = json.dumps({"model_version": self.answer}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def http_settings(own_home, port: int):
    return load_settings({"SENSEX_HOME": str(own_home.home), "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{port}"})


def test_a_tracking_server_down_at_start(own_home):
    from fastapi.testclient import TestClient

    from sensex.interfaces.api import create_app

    settings = http_settings(own_home, free_port())  # nobody listens there
    with pytest.raises(RegistryUnavailable, match="does not answer .*: start it or check MLFLOW_TRACKING_URI"):
        ModelServer(settings).load_production_model()
    with TestClient(create_app(settings)) as client:  # the API starts, and says why it cannot forecast
        health = client.get("/health")
        assert health.status_code == 503 and "does not answer" in health.json()["detail"]["model"]
    # With a pointer from that server (it answered before), the last known production serves.
    known = read_pointer(own_home, MODEL)
    write_pointer(settings, MODEL, known.version, known.run_id, known.sha256, known.info)
    server = ModelServer(settings)
    assert server.predict(log_prediction=False)["model_version"] == known.version
    health = server.health_check()
    assert health["status"] == "degraded" and "does not answer" in health["reason"]
    assert f"Serving version {known.version} from the production pointer" in health["reason"]


def test_a_tracking_server_that_goes_away_while_serving(own_home):
    known = read_pointer(own_home, MODEL)
    FakeMlflowRest.answer = {"name": MODEL, "version": known.version, "run_id": known.run_id}
    port = free_port()
    fake = ThreadingHTTPServer(("127.0.0.1", port), FakeMlflowRest)
    thread = threading.Thread(target=fake.serve_forever, daemon=True)
    thread.start()
    settings = http_settings(own_home, port)
    write_pointer(settings, MODEL, known.version, known.run_id, known.sha256, known.info)
    server = ModelServer(settings)
    before = server.predict(log_prediction=False)
    assert server.health_check()["checks"]["model_current"] is True
    fake.shutdown()
    fake.server_close()
    assert server.check_for_new_model() is None
    assert server.predict(log_prediction=False)["probability"] == before["probability"]
    health = server.health_check()
    assert health["status"] == "degraded" and health["model_version"] == known.version
    assert "does not answer" in health["reason"] and f"Version {known.version} keeps serving" in health["reason"]
    # Back again: the note goes.
    fake = ThreadingHTTPServer(("127.0.0.1", port), FakeMlflowRest)
    threading.Thread(target=fake.serve_forever, daemon=True).start()
    try:
        server.check_for_new_model()
        assert server.health_check()["checks"]["model_current"] is True
    finally:
        fake.shutdown()
        fake.server_close()


def test_health_says_why_when_the_store_holds_other_prices_than_the_model_learnt_from(own_home):
    """The model learnt from the synthetic market; real prices then replace it (`data update
    --source csv`): forecasts still come, but health is degraded, naming the mismatch."""
    from sensex.data import store

    server = ModelServer(own_home)
    assert server.health_check()["checks"].get("data_matches_model", True) is True
    frame = store.read(own_home.store_dir)
    store.write(own_home.store_dir, frame, "csv")  # the same rows, now said to be real prices
    health = server.health_check()
    assert health["status"] == "degraded" and health["checks"]["data_matches_model"] is False
    assert health["detail"]["data"]["model_trained_on"] == "synthetic"
    assert "trained on SYNTHETIC prices but the store now holds real ones" in health["reason"]


def test_a_degraded_health_always_has_a_reason(own_home):
    """Stale data alone (the fixture market ends in 2021) degrades health: the reason says so."""
    health = ModelServer(own_home).health_check()
    assert health["checks"]["data_fresh"] is False and health["status"] == "degraded"
    assert health["reason"] and "before the last completed session" in health["reason"]
    assert "offline, import newer CSV files with `sensex data update --source csv --csv-dir DIR`" in health["reason"]
