"""compose.yaml's topology without Docker: its `mlflow server` command and environment on PostgreSQL,
two `sensex serve` replicas with its API environment sharing Redis and one SENSEX_HOME, and its
daily job against them. Host names of the compose network become 127.0.0.1 and free ports; the
images themselves are not built here (Docker cannot run on this machine)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid

import httpx
import pytest
import yaml
from conftest import FIXTURE_END, FIXTURE_START, REPO, TINY_CONFIG, TINY_GATE, free_port, wait_until_up
from test_api_redis import REDIS_URL, _redis_or_skip
from test_mlflow_server import PG

from sensex.core.settings import load_settings
from sensex.data.ingest import update_store
from sensex.jobs import commands
from sensex.serving import ModelRegistry

pytestmark = [pytest.mark.integration, pytest.mark.services, pytest.mark.slow]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "compose.yaml").read_text())


def _bind(command: list[str], host: str, port: int) -> list[str]:
    """The compose command with its --host/--port pointed at this machine."""
    out = list(command)
    out[out.index("--host") + 1] = host
    out[out.index("--port") + 1] = str(port)
    return out


# The secrets compose requires (`${X:?...}`), as a user's .env gives them.
SECRETS = {"POSTGRES_PASSWORD": "unused-here", "MLFLOW_ADMIN_PASSWORD": "compose-test-password-4f2a"}
ADMIN = ("admin", SECRETS["MLFLOW_ADMIN_PASSWORD"])


def _with_defaults(value: str) -> str:
    import re

    value = re.sub(r"\$\{(\w+):\?[^}]*\}", lambda m: SECRETS[m.group(1)], str(value))
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value)


@pytest.fixture
def postgres_database():
    psycopg2 = pytest.importorskip("psycopg2")
    try:
        admin = psycopg2.connect(f"{PG}/postgres", connect_timeout=2)
    except psycopg2.OperationalError as exc:
        pytest.skip(f"PostgreSQL is not reachable at {PG} ({exc})")
    admin.autocommit = True
    database = f"sensex_compose_{uuid.uuid4().hex[:8]}"
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {database}")
    try:
        yield f"{PG.replace('postgresql://', 'postgresql+psycopg2://')}/{database}"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        admin.close()


@pytest.fixture
def compose_mlflow(compose, postgres_database, tmp_path):
    service = compose["services"]["mlflow"]
    port = free_port()
    env = {**os.environ, **{k: _with_defaults(v) for k, v in service["environment"].items()},
           "MLFLOW_BACKEND_STORE_URI": postgres_database,
           "MLFLOW_ARTIFACTS_DESTINATION": (tmp_path / "mlartifacts").as_uri()}
    # The image's auth config, with its user database in this test's folder instead of /auth.
    config = tmp_path / "basic_auth.ini"
    config.write_text((REPO / "deploy" / "mlflow" / "basic_auth.ini").read_text()
                      .replace("sqlite:////auth/basic_auth.db", f"sqlite:///{tmp_path / 'auth.db'}"))
    env["MLFLOW_AUTH_CONFIG_PATH"] = str(config)
    env.setdefault("MLFLOW_FLASK_SERVER_SECRET_KEY", "compose-test-secret")
    # Its allow-list with compose's port 5000 mapped to the port this server listens on.
    env["MLFLOW_SERVER_ALLOWED_HOSTS"] = env["MLFLOW_SERVER_ALLOWED_HOSTS"].replace(":5000", f":{port}")
    # `mlflow` is the venv's console script, as in the image.
    command = [os.path.join(os.path.dirname(sys.executable), service["command"][0]), *service["command"][1:]]
    # Its own session, so the uvicorn workers it forks are stopped with it.
    process = subprocess.Popen(_bind(command, "127.0.0.1", port), env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        # A fresh PostgreSQL database runs MLflow's migrations first: slow on a busy 2-core machine.
        wait_until_up(url, process, seconds=420, path="/health")
        yield url, port
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


def test_compose_topology_runs_without_docker(compose, compose_mlflow, tmp_path, universe, monkeypatch):
    redis_client = _redis_or_skip()
    # This process trains and promotes as the bootstrap service does: with the admin's credentials.
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", ADMIN[0])
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", ADMIN[1])
    url, port = compose_mlflow
    # The API containers reach the server as http://mlflow:5000; MLflow 3 refuses unknown Host headers,
    # which is why compose lists them. This is the Host header they send (port mapped):
    as_in_compose = httpx.post(f"{url}/api/2.0/mlflow/experiments/search", json={"max_results": 1},
                               headers={"Host": f"mlflow:{port}"}, timeout=10, auth=ADMIN)
    assert as_in_compose.status_code == 200, as_in_compose.text
    stranger = httpx.post(f"{url}/api/2.0/mlflow/experiments/search", json={"max_results": 1},
                          headers={"Host": f"elsewhere.example:{port}"}, timeout=10, auth=ADMIN)
    assert stranger.status_code >= 400  # the allow-list is what lets `mlflow:5000` in

    # Bootstrap (as the compose `bootstrap` service does): data, a model, the registry, on the server.
    home = tmp_path / "home"
    settings = load_settings({"SENSEX_HOME": str(home), "MLFLOW_TRACKING_URI": url})
    update_store(settings, universe, "synthetic", start=FIXTURE_START, end=FIXTURE_END, yahoo_reachable=lambda: False)
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY_CONFIG)
    commands.train(settings, str(config))
    promoted = ModelRegistry(settings, promotion=TINY_GATE).setup_automated_promotion()

    prefix = f"sensex-compose-{uuid.uuid4().hex[:8]}:"
    translate = {"http://mlflow:5000": url, "redis://redis:6379/0": REDIS_URL, "/data": str(home)}

    def environment(service: str, **extra) -> dict:
        env = {k: _with_defaults(v) for k, v in compose["services"][service]["environment"].items()}
        env = {k: translate.get(v, v) for k, v in env.items()}
        return {**os.environ, **env, "SENSEX_REDIS_PREFIX": prefix, "SENSEX_LOG_LEVEL": "WARNING", **extra}

    replicas = []
    try:
        for name in ("api-1", "api-2"):
            port = free_port()
            command = [sys.executable, "-m", *_bind(compose["services"][name]["command"], "127.0.0.1", port)]
            replicas.append((f"http://127.0.0.1:{port}", subprocess.Popen(
                command, env=environment(name), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)))
        for replica_url, process in replicas:
            wait_until_up(replica_url, process, seconds=180)
        first = httpx.post(f"{replicas[0][0]}/predict", timeout=120).json()
        second = httpx.post(f"{replicas[1][0]}/predict", timeout=120).json()
        assert first["model_version"] == second["model_version"] == promoted["version"]
        assert first["cached"] is False and second["cached"] is True and second["probability"] == first["probability"]
        for replica_url, _ in replicas:
            health = httpx.get(f"{replica_url}/health", timeout=60)
            assert health.status_code == 200 and health.json()["checks"]["model_loaded"] is True

        # The compose `daily` service's command in the same topology (the registry over HTTP).
        (home / "daily.yaml").write_text("retrain_on_drift: false\n")
        daily = subprocess.run([sys.executable, "-m", *compose["services"]["daily"]["command"], "--date", "2022-01-04"],
                               env=environment("daily", SENSEX_DATA_SOURCE="synthetic"), capture_output=True,
                               text=True, timeout=600)
        assert daily.returncode == 0, daily.stderr[-2000:]
        summary = json.loads(daily.stdout)
        forecast = next(a for a in summary["actions"] if a["action"] == "forecast" and a["mode"] == "close")
        assert forecast["status"] == "done" and forecast["model_version"] == promoted["version"]
        assert forecast["as_of"] == "2022-01-04"
    finally:
        for _, process in replicas:
            process.terminate()
            process.wait(timeout=30)
        for key in redis_client.scan_iter(match=f"{prefix}*"):
            redis_client.delete(key)
    assert not (home / "mlflow.db").exists()  # runs and registry live on the server
