"""Drift over time (`sensex.monitoring.drift.history`, `ModelServer.drift_history`, `GET /drift/history`):
as-of points every `step` sessions since training, feature PSI per family and the rolling AUC and
Brier beside always-UP's, with no look-ahead."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from sensex.data import store
from sensex.features.dataset import prepare
from sensex.interfaces.api import create_app
from sensex.monitoring.drift import MIN_SESSIONS, SEVERITIES, features, history
from sensex.serving.model_server import ModelServer

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def served(trained_home, universe):
    """The production bundle and the stored frame it was trained on."""
    settings = trained_home["settings"]
    bundle = ModelServer(settings).ensure_loaded()
    return bundle, store.read(settings.store_dir), universe


def _point(result: dict, date: str) -> dict:
    return next(point for point in result["points"] if point["date"] == date)


def test_the_history_has_a_point_every_step_sessions_from_training_to_the_last_session(served):
    bundle, frame, universe = served
    panel = prepare(frame, universe)
    result = history(bundle, panel, step=20, recent=60)
    json.dumps(result, allow_nan=False)
    train_end = pd.Timestamp(bundle.meta.segments["train"][1])
    valid_end = pd.Timestamp(bundle.meta.segments["valid"][1])
    dates = [pd.Timestamp(point["date"]) for point in result["points"]]
    positions = panel.dates.get_indexer(dates)
    assert positions[0] == panel.dates.get_loc(train_end) + 20
    assert set(np.diff(positions[:-1])) == {20} and 0 < positions[-1] - positions[-2] <= 20
    assert dates[-1] == panel.dates[-1]  # the last stored session is always a point
    assert result["families"] and "market context" in result["families"]
    for date, point in zip(dates, result["points"], strict=True):
        feature = point["features"]
        assert MIN_SESSIONS <= feature["sessions"] <= 60
        assert set(feature["families"]) <= set(result["families"]) and feature["severity"] in SEVERITIES
        assert all(row["psi"] >= 0 and row["severity"] in SEVERITIES for row in feature["families"].values())
        performance = point["performance"]
        if date <= valid_end:  # nothing after validation is labelled by then: not judged
            assert performance["n"] == 0 and performance["brier"] is None
        elif performance["n"] >= MIN_SESSIONS:
            assert performance["n"] <= 60 and pd.Timestamp(performance["last"]) < date
            assert 0 <= performance["brier"] <= 1 and 0 <= performance["always_up_brier"] <= 1
    # The last point reads the same sessions as the drift report's feature part, and the same rows as
    # the model's test window (the sessions after validation): the same figures.
    last = result["points"][-1]
    report = features(bundle, panel, 60)
    assert {family: row["psi"] for family, row in last["features"]["families"].items()} == \
        pytest.approx({row["family"]: row["psi"] for row in report["families"]}, abs=1e-4)
    assert last["performance"]["n"] == 60
    assert last["performance"]["auc"] == pytest.approx(bundle.meta.test_metrics["auc"], abs=2e-3)
    assert last["performance"]["brier"] == pytest.approx(bundle.meta.test_metrics["brier"], abs=2e-3)


def test_a_point_does_not_move_when_later_data_changes(served):
    bundle, frame, universe = served
    before = history(bundle, prepare(frame, universe))
    judged = [p for p in before["points"] if p["performance"]["n"] >= MIN_SESSIONS]
    assert len(judged) >= 2, "the fixture must give a judged point before the last one"
    as_of = judged[-2]["date"]
    later = frame["date"] > pd.Timestamp(as_of)
    changed = frame.copy()
    for column in ("open", "high", "low", "close", "adj_close"):
        changed.loc[later, column] *= 1.0 + 0.002 * (changed.loc[later, "date"] - pd.Timestamp(as_of)).dt.days
    changed.loc[later, "volume"] *= 5
    after = history(bundle, prepare(changed, universe))
    assert _point(after, as_of) == _point(before, as_of)
    assert after["points"][-1] != before["points"][-1]  # the change itself shows, later


def test_a_shifted_feature_shows_rising_psi(served):
    bundle, frame, universe = served
    panel = prepare(frame, universe)
    steady = history(bundle, panel, step=10)["points"]
    # From the session after a point on, every market-context feature moves 3 training standard
    # deviations up: the points before it do not move, the later ones rise as the shift fills their window.
    shift_after = pd.Timestamp(steady[-7]["date"])
    later = (panel.dates > shift_after)[:, None]
    scale = np.nanstd(panel.market[panel.dates <= pd.Timestamp(bundle.meta.segments["train"][1])], axis=0)
    shifted = history(bundle, dataclasses.replace(panel, market=panel.market + later * 3 * scale[None, :]), step=10)["points"]

    def market(points):
        return [(p["features"]["families"].get("market context") or {}).get("psi") for p in points]

    before = [pd.Timestamp(p["date"]) <= shift_after for p in steady]
    assert [p["features"] for p, b in zip(shifted, before, strict=True) if b] == \
        [p["features"] for p, b in zip(steady, before, strict=True) if b]
    rising = market(shifted)[before.index(False) - 1:]
    assert len(rising) >= 6 and all(b > a for a, b in zip(rising, rising[1:], strict=False))
    assert rising[-1] >= 0.25 and rising[-1] > market(steady)[-1] + 0.25
    assert shifted[-1]["features"]["families"]["market context"]["severity"] == "retrain"
    assert shifted[-1]["features"]["severity"] == "retrain"


def test_a_history_with_no_session_after_training_says_so(served):
    bundle, frame, universe = served
    train_end = pd.Timestamp(bundle.meta.segments["train"][1])
    result = history(bundle, prepare(frame[frame["date"] <= train_end], universe))
    assert result["points"] == [] and "after the training window" in result["reason"]


def test_the_route_serves_the_history_and_the_server_caches_it(trained_home):
    settings = trained_home["settings"]
    with TestClient(create_app(settings)) as client:
        response = client.get("/drift/history", params={"step": 30, "sessions": 40})
        assert response.status_code == 200
        body = response.json()
        assert body["version"] == "1" and body["step"] == 30 and body["recent_sessions"] == 40
        assert body["points"] and body["thresholds"] == {"watch": 0.10, "retrain": 0.25}
        server = client.app.state.server
        hits = server.cache.stats().get("hits", 0)
        # The same model and data: the API's kept answer (`serving.answers`), not even a cache read ...
        assert client.get("/drift/history", params={"step": 30, "sessions": 40}).json() == body
        assert server.cache.stats().get("hits", 0) == hits
        # ... and the server's own call (the CLI's, the dashboard's) reads the cache.
        assert server.drift_history(30, 40) == body
        assert server.cache.stats().get("hits", 0) == hits + 1
        assert client.get("/drift/history", params={"step": 0}).status_code == 422
        assert client.get("/drift/history", params={"sessions": 5}).status_code == 422
        assert "/drift/history" in client.get("/openapi.json").json()["paths"]


def test_the_route_without_a_model_is_503_with_one_sentence(home):
    with TestClient(create_app(home)) as client:
        response = client.get("/drift/history")
    assert response.status_code == 503
    detail = response.json()["detail"]
    assert "sensex registry setup" in detail and detail.count(". ") == 0 and detail.endswith(".")
