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


OTHER_PRICES = ("The production model was trained on SYNTHETIC prices but the store now holds real ones: retrain with"
                " `sensex train` then `sensex registry setup`.")


def as_real_prices(settings) -> None:
    """The same rows, now said to be real prices (as `data update --source csv --replace` would leave them)."""
    from sensex.data import store

    store.write(settings.store_dir, store.read(settings.store_dir), "csv")


def test_the_forecast_says_when_the_store_holds_other_prices_than_the_model_learnt_from(own_home, monkeypatch,
                                                                                        capsys):
    from sensex.core.settings import get_settings
    from sensex.interfaces import cli

    before = ModelServer(own_home).predict(log_prediction=False)
    assert before["data_matches_model"] is True and before["data_warning"] is None
    as_real_prices(own_home)
    after = ModelServer(own_home).predict(log_prediction=False)  # not the cached forecast of the synthetic store
    assert after["data_matches_model"] is False and after["data_warning"] == OTHER_PRICES
    assert after["probability"] == before["probability"] and after["synthetic"] is False
    monkeypatch.setenv("SENSEX_HOME", str(own_home.home))
    get_settings.cache_clear()
    assert cli.run(["predict"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == OTHER_PRICES  # first: it says what the figures are worth


def test_the_model_card_says_when_the_store_holds_other_prices_than_the_model_learnt_from(own_home):
    server = ModelServer(own_home)
    card = server.model_card()
    assert card["data_matches_model"] is True and card["data_warning"] is None
    as_real_prices(own_home)
    card = server.model_card()
    assert card["data_matches_model"] is False and card["data_warning"] == OTHER_PRICES


def test_replacing_real_prices_with_synthetic_ones_warns_that_the_production_model_learnt_from_other_data(
        own_home, monkeypatch, capsys):
    """The issue's case: a production model trained on real prices, then `data update --source
    synthetic --replace`. The update says the model now answers from other prices, and what to do."""
    from conftest import FIXTURE_END, FIXTURE_START

    from sensex.core.settings import get_settings
    from sensex.interfaces import cli
    from sensex.models.bundle import META_FILE, bundle_files

    described = bundle_files(read_pointer(own_home, MODEL).bundle_dir(own_home))[META_FILE]
    meta = json.loads(described.read_text())
    described.write_text(json.dumps({**meta, "data": {**meta["data"], "synthetic": False, "source": "csv"}}))
    as_real_prices(own_home)  # the store and the model agree: real prices
    monkeypatch.setenv("SENSEX_HOME", str(own_home.home))
    get_settings.cache_clear()
    update = ["data", "update", "--source", "synthetic", "--start", FIXTURE_START, "--end", FIXTURE_END]
    assert cli.run([*update, "--json"]) == 2  # refused without --replace: nothing to warn about
    capsys.readouterr()
    assert cli.run([*update, "--replace"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        "Warning: the production close model was trained on real prices but the store now holds SYNTHETIC ones:"
        " retrain with `sensex train` then `sensex registry setup`.")
    assert cli.run([*update, "--json"]) == 0  # still so on the next update, and in its JSON
    assert json.loads(capsys.readouterr().out)["model_warning"].startswith("Warning: the production close model")


def test_a_degraded_health_always_has_a_reason(own_home):
    """Stale data alone (the fixture market ends in 2021) degrades health: the reason says so."""
    health = ModelServer(own_home).health_check()
    assert health["checks"]["data_fresh"] is False and health["status"] == "degraded"
    assert health["reason"] and "before the last completed session" in health["reason"]
    assert "offline, import newer CSV files with `sensex data update --source csv --csv-dir DIR`" in health["reason"]
