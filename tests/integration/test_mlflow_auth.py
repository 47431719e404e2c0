"""The tracking server behind MLflow's basic-auth app, as compose runs it: every request needs a
user, only the admin (and users granted EDIT or MANAGE) can move the production alias, and the
project's clients (MLflow's and the registry probe) pass credentials from MLflow's variables."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import REPO, free_port, wait_until_up

from sensex.core.errors import RegistryUnavailable
from sensex.core.settings import load_settings
from sensex.registry.probe import production_alias

pytestmark = [pytest.mark.integration, pytest.mark.slow]
MODEL = "sensex-convlstm-model"
ADMIN, PASSWORD = "admin", "a-long-test-password-9d1f"


@pytest.fixture
def auth_server(tmp_path):
    pytest.importorskip("flask_wtf", reason="MLflow's basic-auth app needs mlflow[auth] (the dev extras)")
    config = tmp_path / "basic_auth.ini"
    shipped = (REPO / "deploy" / "mlflow" / "basic_auth.ini").read_text()
    config.write_text(shipped.replace("sqlite:////auth/basic_auth.db", f"sqlite:///{tmp_path / 'auth.db'}"))
    port = free_port()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "MLFLOW_AUTH_CONFIG_PATH": str(config),
           "MLFLOW_AUTH_ADMIN_USERNAME": ADMIN, "MLFLOW_AUTH_ADMIN_PASSWORD": PASSWORD,
           "MLFLOW_FLASK_SERVER_SECRET_KEY": "test-secret"}
    process = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--app-name", "basic-auth",
         "--backend-store-uri", f"sqlite:///{tmp_path / 'mlflow.db'}",
         "--artifacts-destination", (tmp_path / "artifacts").as_uri(), "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, process, seconds=120, path="/health")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def _client(url, monkeypatch, user=None, password=None):
    from mlflow import MlflowClient

    for name, value in (("MLFLOW_TRACKING_USERNAME", user), ("MLFLOW_TRACKING_PASSWORD", password)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    return MlflowClient(tracking_uri=url, registry_uri=url)


def test_only_an_authorised_user_moves_the_production_alias(auth_server, monkeypatch, tmp_path):
    from mlflow.exceptions import MlflowException
    from mlflow.server.auth.client import AuthServiceClient

    settings = load_settings({"SENSEX_HOME": str(tmp_path / "home"), "MLFLOW_TRACKING_URI": auth_server})
    anonymous = _client(auth_server, monkeypatch)
    with pytest.raises(MlflowException, match="401|credentials|Unauthorized"):
        anonymous.search_registered_models()
    with pytest.raises(RegistryUnavailable, match="refused the request .HTTP 401.: set MLFLOW_TRACKING_USERNAME"):
        production_alias(settings, MODEL)

    admin = _client(auth_server, monkeypatch, ADMIN, PASSWORD)
    admin.create_registered_model(MODEL)
    run = admin.create_run(admin.create_experiment("auth-test"))
    admin.create_model_version(MODEL, source=f"{run.info.artifact_uri}/model", run_id=run.info.run_id)
    admin.set_registered_model_alias(MODEL, "production", "1")
    assert production_alias(settings, MODEL).version == "1"  # the probe sends the admin's credentials

    AuthServiceClient(auth_server).create_user("reader", "another-long-password-77")
    reader = _client(auth_server, monkeypatch, "reader", "another-long-password-77")
    assert reader.get_model_version_by_alias(MODEL, "production").version == "1"  # everyone may read
    with pytest.raises(MlflowException, match="403|Permission denied|PERMISSION_DENIED"):
        reader.set_registered_model_alias(MODEL, "production", "1")
