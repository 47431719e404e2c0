"""One way to get a model: version, run or production -> one verified folder per run.

Faults injected: random bytes in the cached model.onnx, a garbage cached model.json, a cached
folder missing model.onnx, and a model that is corrupt in MLflow itself.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import FIXTURE_END, FIXTURE_START, TINY_CONFIG, TINY_GATE

from sensex.core.errors import CorruptModelError
from sensex.models.bundle import EXTRA_DIR, META_FILE, ONNX_FILE, load_bundle
from sensex.serving import ModelRegistry
from sensex.serving.model_server import ModelServer

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def own_home(tmp_path_factory, universe):
    """A trained home of this module's own: its tests corrupt files in it."""
    from sensex.core.settings import load_settings
    from sensex.data.ingest import update_store
    from sensex.jobs import commands

    root = tmp_path_factory.mktemp("loading")
    settings = load_settings({"SENSEX_HOME": str(root / "home")})
    update_store(settings, universe, "synthetic", start=FIXTURE_START, end=FIXTURE_END, yahoo_reachable=lambda: False)
    config = root / "tiny.yaml"
    config.write_text(TINY_CONFIG)
    run_id = commands.train(settings, str(config))["run_id"]
    ModelRegistry(settings, promotion=TINY_GATE).setup_automated_promotion()
    return settings, run_id


def _fresh_forecast(settings) -> dict:
    server = ModelServer(settings)
    server.load_production_model()
    return server.predict(log_prediction=False)


def test_version_run_and_production_share_one_verified_folder(own_home):
    settings, run_id = own_home
    registry = ModelRegistry(settings)
    by_production = registry.load()[1]
    by_version = registry.load(version=registry.require_production_model()["version"])[1]
    by_run = registry.load(run_id=run_id)[1]
    assert by_production.directory == by_version.directory == by_run.directory == settings.cache_dir / "models" / run_id
    assert [p.name for p in (settings.cache_dir / "models").iterdir()] == [run_id]
    links = [p for p in by_run.directory.rglob("*") if p.is_symlink()]
    assert links == []
    assert by_run.meta.onnx_sha256 and by_run.meta.schema_version >= 2


@pytest.mark.parametrize("damage", ["onnx_bytes", "meta_garbage", "onnx_missing"])
def test_a_damaged_cached_model_is_fetched_again(own_home, damage):
    settings, run_id = own_home
    expected = _fresh_forecast(settings)["probability"]
    folder = settings.cache_dir / "models" / run_id
    if damage == "onnx_bytes":
        (folder / ONNX_FILE).write_bytes(os.urandom(2048))
    elif damage == "meta_garbage":
        (folder / EXTRA_DIR / META_FILE).write_text("{not json")
    else:
        (folder / ONNX_FILE).unlink()
    assert _fresh_forecast(settings)["probability"] == expected
    load_bundle(folder)  # repaired in place


def test_a_model_corrupt_in_mlflow_is_refused_with_a_sentence(own_home, tmp_path):
    import mlflow

    from sensex.registry import tracking

    settings, run_id = own_home
    tracking.configure(settings)
    model_uri = mlflow.get_run(run_id).data.tags[tracking.MODEL_URI_TAG]
    stored = mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=str(tmp_path))  # finds its path
    source = mlflow.MlflowClient().get_logged_model(model_uri.split("/")[-1]).artifact_location
    original = (source.removeprefix("file://") + "/" + ONNX_FILE)
    saved = open(original, "rb").read()
    try:
        with open(original, "wb") as handle:
            handle.write(os.urandom(4096))
        folder = settings.cache_dir / "models" / run_id
        (folder / ONNX_FILE).write_bytes(b"garbage")
        with pytest.raises(CorruptModelError, match="fails its checks"):
            ModelServer(settings).load_production_model()
        env = {**os.environ, "SENSEX_HOME": str(settings.home)}
        out = subprocess.run([sys.executable, "-m", "sensex", "predict"], env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode != 0
        assert "Traceback" not in out.stderr
        assert "fails its checks" in out.stderr.strip().splitlines()[-1]
    finally:
        with open(original, "wb") as handle:
            handle.write(saved)
    assert stored  # the download above really happened
    np.testing.assert_allclose(_fresh_forecast(settings)["probability"], _fresh_forecast(settings)["probability"])


def test_model_card_is_what_the_api_serves(own_home):
    from fastapi.testclient import TestClient

    from sensex.interfaces.api import create_app

    settings, run_id = own_home
    server = ModelServer(settings)
    card = server.model_card()
    assert card["run_id"] == run_id
    assert set(card["test_baselines"]) >= {"always_up", "prev_day", "logreg"}
    assert {"auc", "brier"} <= set(card["test_metrics"])
    with TestClient(create_app(settings, server)) as client:
        served = client.get("/model").json()
    # The API's startup loads the model again: only the load time may differ.
    assert {k: v for k, v in served.items() if k != "loaded_at"} == {k: v for k, v in card.items() if k != "loaded_at"}
