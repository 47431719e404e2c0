"""Drift: performance on unseen sessions, feature PSI per family, the live record; CLI and API."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from sensex.core import jsonlog
from sensex.data import store
from sensex.monitoring.drift import NOT_JUDGED, SEVERITIES, psi, wilson, worst
from sensex.serving.model_server import ModelServer

pytestmark = pytest.mark.integration
PARTS = ("performance", "features", "live")


def check_shape(report: dict) -> None:
    for part in PARTS:
        judged = report[part]["judged"]
        assert report[part]["severity"] in (SEVERITIES if judged else (NOT_JUDGED,)) and report[part]["reason"].endswith(".")
    assert report["severity"] == worst(*(report[p]["severity"] for p in PARTS)) != NOT_JUDGED
    assert report["recommendation"]


def test_a_report_with_undefined_figures_is_still_json(own_home):
    from sensex.monitoring.drift import _finite

    assert _finite({"a": [float("nan"), 1.0], "b": {"c": float("inf")}, "d": "x"}) == {"a": [None, 1.0], "b": {"c": None},
                                                                                        "d": "x"}
    json.dumps(ModelServer(own_home).drift(), allow_nan=False)


def test_psi_is_zero_for_the_same_distribution_and_large_for_a_shift():
    rng = np.random.default_rng(0)
    reference = rng.normal(size=5000)
    assert psi(reference, rng.normal(size=2000)) < 0.02
    assert psi(reference, rng.normal(loc=1.0, size=2000)) > 0.25
    assert psi(reference[:10], reference) is None  # too few values to judge
    low, high = wilson(30, 50)
    assert low < 0.6 < high


def test_the_cli_and_the_api_report_three_parts(own_home):
    from fastapi.testclient import TestClient

    from sensex.interfaces.api import create_app

    (own_home.logs_dir / jsonlog.PREDICTION_LOG).unlink(missing_ok=True)  # other tests' forecasts: not this one's
    env = {**os.environ, "SENSEX_HOME": str(own_home.home), "SENSEX_LOG_LEVEL": "WARNING"}
    out = subprocess.run([sys.executable, "-m", "sensex", "registry", "drift", "--start", "2021-06-01", "--json"],
                         env=env, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    check_shape(report)
    assert report["performance"]["judged"] is True and report["performance"]["n"] > 100
    features = report["features"]
    assert features["judged"] is True and features["recent_sessions"] == 60
    families = {row["family"] for row in features["families"]}
    assert "market context" in families and len(families) > 3
    assert all(row["psi"] >= 0 for row in features["families"])
    assert report["live"]["judged"] is False and report["live"]["severity"] == NOT_JUDGED  # nothing logged yet
    assert report["reason"].endswith("; not judged yet: live.")
    with TestClient(create_app(own_home)) as client:
        served = client.get("/drift", params={"start": "2021-06-01", "sessions": 40})
        assert served.status_code == 200
        check_shape(served.json())
        assert served.json()["features"]["recent_sessions"] == 40
        assert client.get("/drift", params={"sessions": 5}).status_code == 422
        assert client.get("/drift", params={"start": "2021-12-01", "end": "2021-06-01"}).status_code == 422


def test_the_live_record_counts_one_closed_forecast_per_session_and_keeps_look_backs_apart(own_home, universe):
    closes = store.read(own_home.store_dir, symbols=[universe.index_symbol]).set_index("date")["close"]
    days = [str(d.date()) for d in closes.index[-45:]]
    log = own_home.logs_dir / jsonlog.PREDICTION_LOG
    log.unlink(missing_ok=True)
    expected_hits = 0
    for i, (as_of, target) in enumerate(zip(days[:-1], days[1:], strict=True)):
        up = closes[target] > closes[as_of]
        probability = 0.6 if i % 3 else 0.4  # right two days in three when UP, ...
        expected_hits += (probability >= 0.5) == up
        record = {"prediction": {"probability": probability, "direction": "UP" if probability >= 0.5 else "DOWN"},
                  "model_version": "1", "mode": "close", "as_of": as_of, "target_date": target, "back_dated": False}
        jsonlog.append(log, record)
        jsonlog.append(log, {**record, "prediction": {"probability": 0.99, "direction": "UP"}})  # later: ignored
        jsonlog.append(log, {**record, "back_dated": True})  # a look back: apart
        jsonlog.append(log, {**record, "mode": "preopen"})  # another mode: not this one
    jsonlog.append(log, {"prediction": {"probability": 0.7}, "model_version": "1", "mode": "close",
                         "as_of": days[-1], "target_date": "2099-01-01", "back_dated": False})  # target not closed
    live = ModelServer(own_home).drift()["live"]
    assert live["judged"] is True and live["n"] == 44
    assert live["hit_rate"] == pytest.approx(expected_hits / 44, abs=1e-4)
    assert live["hit_rate_interval"][0] < live["hit_rate"] < live["hit_rate_interval"][1]
    assert live["back_dated"]["n"] == 44
    assert {"hit_rate", "brier"} <= set(live["always_up"])
    assert live["severity"] in SEVERITIES and "live forecasts" in live["reason"]
