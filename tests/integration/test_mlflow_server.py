"""The whole train -> register -> serve loop against a real MLflow server backed by PostgreSQL."""

import os
import subprocess
import sys
import uuid

import pytest
from conftest import FIXTURE_END, FIXTURE_START, TINY_CONFIG, TINY_GATE, free_port, wait_until_up

from sensex.core.settings import load_settings
from sensex.data.ingest import update_store
from sensex.jobs import commands
from sensex.serving import ModelRegistry
from sensex.serving.model_server import ModelServer

pytestmark = [pytest.mark.integration, pytest.mark.services, pytest.mark.slow]
PG = os.environ.get("SENSEX_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")



@pytest.fixture
def mlflow_server(tmp_path):
    psycopg2 = pytest.importorskip("psycopg2")
    try:
        admin = psycopg2.connect(f"{PG}/postgres", connect_timeout=2)
    except psycopg2.OperationalError as exc:
        pytest.skip(f"PostgreSQL is not reachable at {PG} ({exc})")
    admin.autocommit = True
    database = f"sensex_mlflow_{uuid.uuid4().hex[:8]}"
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {database}")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri",
         f"{PG.replace('postgresql://', 'postgresql+psycopg2://')}/{database}",
         "--artifacts-destination", (tmp_path / "artifacts").as_uri(), "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, process, seconds=120, path="/health")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        admin.close()


def test_train_register_and_serve_through_an_mlflow_server(mlflow_server, tmp_path, universe):
    settings = load_settings({"SENSEX_HOME": str(tmp_path / "home"), "MLFLOW_TRACKING_URI": mlflow_server})
    update_store(settings, universe, "synthetic", start=FIXTURE_START, end=FIXTURE_END, yahoo_reachable=lambda: False)
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY_CONFIG)
    trained = commands.train(settings, str(config))
    promoted = ModelRegistry(settings, promotion=TINY_GATE).setup_automated_promotion()
    assert promoted["stage"] == "Production" and promoted["run_id"] == trained["run_id"]
    forecast = ModelServer(settings).predict()
    assert forecast["model_version"] == promoted["version"] and forecast["target_date"] == "2022-01-03"
    # Nothing landed in a local database: the server holds runs and registry.
    assert not (tmp_path / "home" / "mlflow.db").exists()
