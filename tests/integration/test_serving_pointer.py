"""The forecast path without MLflow: the production pointer, its checks, a moved or copied home."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from sensex.core.cache import MemoryCache
from sensex.core.settings import load_settings
from sensex.registry.pointer import pointer_path, read_pointer
from sensex.registry.probe import production_alias
from sensex.serving.model_server import ModelServer

pytestmark = pytest.mark.integration
MODEL = "sensex-convlstm-model"


@pytest.fixture
def copied_home(trained_home, tmp_path):
    """A copy of the trained home elsewhere: its mlflow.db still names the original's paths."""
    home = tmp_path / "copy"
    shutil.copytree(trained_home["settings"].home, home, symlinks=True)
    return load_settings({"SENSEX_HOME": str(home)})


def test_the_registry_writes_a_relative_pointer_that_agrees_with_mlflow(trained_home):
    from mlflow import MlflowClient

    settings = trained_home["settings"]
    pointer = read_pointer(settings, MODEL)
    truth = MlflowClient(tracking_uri=settings.tracking_uri).get_model_version_by_alias(MODEL, "production")
    assert (pointer.version, pointer.run_id) == (str(truth.version), truth.run_id)
    assert not os.path.isabs(pointer.bundle) and pointer.registry == "home"
    assert pointer.info["stage"] == "Production" and pointer.info["metrics"]
    target = production_alias(settings, MODEL)
    assert (target.version, target.run_id) == (pointer.version, pointer.run_id)
    assert production_alias(settings, "no-such-model") is None
    links = [p for p in settings.home.rglob("*") if p.is_symlink()]
    assert links == []


def test_the_forecast_and_drift_paths_import_neither_mlflow_nor_torch(trained_home, monkeypatch):
    from sensex.core.settings import get_settings
    from sensex.market import calendar

    # The first process of a home builds the session list from exchange_calendars; later ones read it.
    monkeypatch.setenv("SENSEX_HOME", str(trained_home["settings"].home))
    get_settings.cache_clear()
    calendar._recorded_sessions.cache_clear()
    calendar._recorded_sessions()
    code = """
import sys
from fastapi.testclient import TestClient
from sensex.interfaces.api import create_app
from sensex.core.cache import MemoryCache
from sensex.serving.model_server import ModelServer
ModelServer().predict(log_prediction=False)
with TestClient(create_app()) as client:
    assert client.post('/predict').status_code == 200
    assert client.post('/predict', json={'as_of': '2021-12-01'}).status_code == 200
    assert client.get('/health').status_code == 200
    assert client.get('/drift').status_code == 200  # scored with the saved JSON baselines: no scikit-learn
    assert client.get('/drift/history').status_code == 200
print([m for m in ('mlflow', 'torch', 'exchange_calendars', 'scipy', 'sklearn') if m in sys.modules])
"""
    env = {**os.environ, "SENSEX_HOME": str(trained_home["settings"].home)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize("damage", ["missing", "garbage", "other_version", "absolute_bundle"])
def test_a_missing_damaged_or_disagreeing_pointer_is_rewritten(copied_home, damage):
    path = pointer_path(copied_home, MODEL)
    good = json.loads(path.read_text())
    if damage == "missing":
        path.unlink()
    elif damage == "garbage":
        path.write_text("{not json")
    elif damage == "other_version":
        path.write_text(json.dumps({**good, "version": "99"}))
    else:
        path.write_text(json.dumps({**good, "bundle": "/etc"}))
    server = ModelServer(copied_home)
    assert server.predict(log_prediction=False)["model_version"] == good["version"]
    rewritten = json.loads(path.read_text())
    assert {k: rewritten[k] for k in ("version", "run_id", "sha256", "bundle")} == \
        {k: good[k] for k in ("version", "run_id", "sha256", "bundle")}


def test_a_copied_home_reads_its_own_files_never_the_originals(trained_home, copied_home, tmp_path):
    """The copy's mlflow.db records the original's absolute paths: with the original gone
    (moved away), and the copy's bundle cache emptied, the copy still serves from its own files."""
    original = trained_home["settings"].artifacts_dir
    expected = ModelServer(trained_home["settings"]).predict(log_prediction=False)["probability"]
    shutil.rmtree(copied_home.cache_dir / "models")
    parked = tmp_path / "parked-artifacts"
    os.rename(original, parked)  # the original is unreadable: a read from it would fail
    try:
        forecast = ModelServer(copied_home).predict(log_prediction=False)
    finally:
        os.rename(parked, original)
    assert forecast["probability"] == expected
    assert (copied_home.cache_dir / "models" / read_pointer(copied_home, MODEL).run_id / "model.onnx").is_file()


def test_a_copy_without_the_model_files_refuses_with_a_sentence(copied_home):
    from sensex.core.errors import ModelNotFoundError

    shutil.rmtree(copied_home.cache_dir / "models")
    shutil.rmtree(copied_home.artifacts_dir / "models")
    pointer_path(copied_home, MODEL).unlink()
    with pytest.raises(ModelNotFoundError, match="outside SENSEX_HOME"):
        ModelServer(copied_home).load_production_model()


def test_the_latest_window_is_kept_per_model_and_data_hash(copied_home, monkeypatch):
    # The copy carries the windows earlier tests kept in the trained home (other models): start empty.
    shutil.rmtree(copied_home.cache_dir / "windows", ignore_errors=True)
    first = ModelServer(copied_home, cache=MemoryCache()).predict(log_prediction=False)
    kept = list((copied_home.cache_dir / "windows").glob("close-*.npz"))
    assert len(kept) == 1
    # A restarted server's latest forecast is one ONNX call: no feature is computed.
    monkeypatch.setattr(ModelServer, "_computed_inputs", lambda *a, **k: pytest.fail("features were computed"))
    again = ModelServer(copied_home, cache=MemoryCache())  # a fresh forecast cache: really recomputed
    assert again.predict(log_prediction=False)["cached"] is False
    assert again.predict(log_prediction=False)["probability"] == first["probability"]
    monkeypatch.undo()
    kept[0].write_bytes(b"not an npz")  # damaged: computed again, never unpickled
    assert ModelServer(copied_home, cache=MemoryCache()).predict(log_prediction=False)["probability"] == \
        first["probability"]


def test_the_cli_module_imports_nothing_heavy_for_help():
    code = ("import sys, sensex.interfaces.cli; print([m for m in ('pandas', 'pydantic_settings', 'mlflow', 'numpy', 'torch')"
            " if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"
