import pytest
from fastapi.testclient import TestClient

from sensex.interfaces.api import create_app

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def client(trained_home):
    with TestClient(create_app(trained_home["settings"])) as client:
        yield client


def test_predict(client):
    response = client.post("/predict")
    assert response.status_code == 200
    body = response.json()
    assert body["direction"] in ("UP", "DOWN") and body["synthetic"] is True
    assert body["target_date"] == "2022-01-03"
    again = client.post("/predict").json()
    assert again["cached"] is True and again["probability"] == body["probability"]
    # How far, never which way: the range forecast from the same bundle, in the same answer.
    move = body["expected_move"]
    assert set(move) >= {"pct", "points", "interval_pct", "range_low", "range_high"}
    assert move["pct"] > 0 and move["range_low"] < move["last_close"] < move["range_high"]
    assert move["interval_pct"][0] < move["pct"] < move["interval_pct"][1]
    assert body["risk"] in ("Low", "Medium", "High") and body["realized_risk"] in ("Low", "Medium", "High", "unknown")
    assert 0 <= body["risk_percentile"] <= 100 and "percentile" in body["risk_basis"]
    assert again["expected_move"] == move
    assert client.get("/model").json()["range"]["metrics"]["qlike"] > 0


def test_predict_rejects_a_malformed_date(client):
    assert client.post("/predict", json={"as_of": "yesterday"}).status_code == 422


def test_health_version_model_history_metrics(client):
    health = client.get("/health")
    assert health.status_code == 200
    assert health.json()["checks"]["model_loaded"] is True
    # The fixture's data ends in 2021: stale today, so the server is degraded, not healthy.
    assert health.json()["checks"]["data_fresh"] is False and health.json()["status"] == "degraded"
    assert client.post("/predict").json()["stale"] is True
    assert client.get("/version").json()["model_version"] == "1"
    card = client.get("/model").json()
    assert card["kind"] == "convlstm" and card["skill"]["skill"] in {"shown", "none"}
    assert (card["skill"]["skill"] == "none") == bool(card["skill"]["reasons"])  # no skill always says why
    client.post("/predict")
    assert client.get("/predictions?limit=5").json()["predictions"]
    metrics = client.get("/metrics").text
    assert "sensex_predictions_total" in metrics
    assert "sensex_model_version 1.0" in metrics
    assert "sensex_cache_hits" in metrics
    overview = client.get("/market").json()
    assert overview["as_of"] == "2021-12-31" and overview["synthetic"] is True


def test_no_production_model_is_503_with_a_reason(home):
    with TestClient(create_app(home)) as client:
        health = client.get("/health")
        assert health.status_code == 503 and health.json()["status"] == "unhealthy"
        response = client.post("/predict")
        assert response.status_code == 503
        assert "sensex registry setup" in response.json()["detail"]


def test_the_serving_process_never_imports_torch(trained_home):
    import os
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from fastapi.testclient import TestClient\n"
        "from sensex.interfaces.api import create_app\n"
        "with TestClient(create_app()) as client:\n"
        "    assert client.post('/predict').status_code == 200\n"
        "    assert client.get('/explain').status_code == 200\n"
        "    assert client.get('/health').status_code == 200\n"
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))\n"
    )
    env = {**os.environ, "SENSEX_HOME": str(trained_home["settings"].home)}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"
