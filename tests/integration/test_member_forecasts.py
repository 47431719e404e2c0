"""Member and sector forecasts: the tiny model trains with member outputs, exports one
graph, serves `members` and `sectors` in the forecast and on `GET /members` and `GET /sectors`;
a bundle from before member forecasts still serves (without them)."""

import json
import shutil
from datetime import datetime

import numpy as np
import onnx
import pytest
from fastapi.testclient import TestClient

from sensex.core.settings import get_settings
from sensex.interfaces import cli
from sensex.interfaces.api import create_app
from sensex.market import calendar
from sensex.market.universe import load_universe
from sensex.models.bundle import EXTRA_DIR, META_FILE, ONNX_FILE, file_sha256, load_bundle
from sensex.serving import ModelRegistry

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def client(trained_home):
    with TestClient(create_app(trained_home["settings"])) as client:
        yield client


@pytest.fixture(scope="module")
def production_bundle(trained_home):
    _, bundle = ModelRegistry(trained_home["settings"]).load()
    return bundle


def test_training_chooses_member_outputs_on_validation_and_exports_one_graph(trained_home, production_bundle):
    graph = onnx.load(str(production_bundle.directory / ONNX_FILE))
    assert [o.name for o in graph.graph.output] == ["logit", "stock_logits"]
    members = production_bundle.meta.members
    assert production_bundle.meta.schema_version >= 4
    assert members["source"] in ("network", "logreg")
    selection = members["selection"]
    assert {"network", "logreg"} <= set(selection) and selection["chosen"] == members["source"]
    assert selection["criterion"] == "valid_auc_pooled"
    # Calibrations are fit on the validation window, never the test window.
    valid = production_bundle.meta.segments["valid"]
    assert [members["calibration"]["fit_start"], members["calibration"]["fit_end"]] == valid
    assert [members["sector_calibration"]["fit_start"], members["sector_calibration"]["fit_end"]] == valid
    universe = load_universe()
    assert members["sectors"] == [universe.sector_of(s) for s in production_bundle.meta.symbols]
    summary = trained_home["train"]["members"]
    assert summary["source"] == members["source"]
    assert set(summary["baselines"]) == {"reversal", "momentum_20", "logreg_members"}
    assert 0 <= summary["test"]["auc_pooled"] <= 1 and np.isfinite(summary["test"]["ic_mean"])
    # How far each member may move: one pooled HAR, its band calibrated on validation, scored on test.
    member_range = members["range"]
    assert member_range["feature_names"] == ["log_var_1", "log_var_5", "log_var_22"] and len(member_range["coef"]) == 3
    assert member_range["move_ratio"] > 0 and np.isfinite(member_range["band_z"])
    assert 0.5 < member_range["test"]["coverage_80"] < 1.0 and member_range["test"]["rows"] > 200
    assert summary["range"] == member_range["test"]


def test_predict_returns_members_and_sectors(client, production_bundle):
    body = client.post("/predict").json()
    members, sectors = body["members"], body["sectors"]
    assert {m["symbol"] for m in members} == set(production_bundle.meta.symbols)
    ranked = [m for m in members if m["rank"] is not None]
    assert [m["rank"] for m in ranked] == list(range(1, len(ranked) + 1))
    probabilities = [m["probability"] for m in ranked]
    assert probabilities == sorted(probabilities, reverse=True) and all(0 < p < 1 for p in probabilities)
    assert sorted(s for sector in sectors for s in sector["members"]) == sorted(m["symbol"] for m in ranked)
    assert all(0 < s["probability"] < 1 for s in sectors)
    assert {s["sector"] for s in sectors} <= set(production_bundle.meta.members["sectors"])
    for member in members:  # how far, never which way, for every member with data
        move = member["expected_move"]
        if member["rank"] is None:
            assert move is None
        else:
            assert 0 < move["pct"] < move["band_pct"] < 50 and move["level"] == 0.8 and "never which way" in move["note"]


def test_predict_json_on_the_command_line_has_members_and_sectors(capsys, trained_home, monkeypatch):
    monkeypatch.setenv("SENSEX_HOME", str(trained_home["settings"].home))
    get_settings.cache_clear()
    monkeypatch.setattr(calendar, "now_ist", lambda: datetime(2022, 1, 3, 16, 0, tzinfo=calendar.IST))
    assert cli.run(["predict", "--json"]) == 0
    forecast = json.loads(capsys.readouterr().out)
    assert len(forecast["members"]) == 30 and forecast["members"][0]["rank"] == 1
    assert {"sector", "probability", "members"} == set(forecast["sectors"][0])


def test_members_and_sectors_routes(client):
    forecast = client.post("/predict").json()
    members = client.get("/members")
    assert members.status_code == 200
    assert members.json()["members"] == forecast["members"] and members.json()["target_date"] == forecast["target_date"]
    sectors = client.get("/sectors")
    assert sectors.status_code == 200 and sectors.json()["sectors"] == forecast["sectors"]
    assert sectors.json()["synthetic"] is True
    assert client.get("/members?as_of=yesterday").status_code == 422


def _old_bundle(bundle, directory):
    """A copy of `bundle` as an older release wrote it: no "stock_logits" output, schema 3, no `members`."""
    shutil.copytree(bundle.directory, directory)
    graph = onnx.load(str(directory / ONNX_FILE))
    kept = [o for o in graph.graph.output if o.name != "stock_logits"]
    del graph.graph.output[:]
    graph.graph.output.extend(kept)
    onnx.save(graph, str(directory / ONNX_FILE))
    meta_path = directory / EXTRA_DIR / META_FILE
    meta = json.loads(meta_path.read_text())
    meta.pop("members")
    meta["network"].pop("member_outputs")
    meta.update(schema_version=3, onnx_sha256=file_sha256(directory / ONNX_FILE))
    meta_path.write_text(json.dumps(meta))
    return load_bundle(directory)


def test_an_old_bundle_without_members_still_serves(own_home, production_bundle, tmp_path, monkeypatch):
    old = _old_bundle(production_bundle, tmp_path / "old")
    assert not old.has_members and old.meta.schema_version == 3
    from sensex.registry import production

    original = production.load_pointed  # the server loads the production bundle through the pointer
    monkeypatch.setattr(production, "load_pointed", lambda settings, pointer: (original(settings, pointer)[0], old))
    # A copy of the home: the old bundle's server keeps its own window, which the shared home must not hold.
    with TestClient(create_app(own_home)) as client:
        forecast = client.post("/predict")
        assert forecast.status_code == 200
        assert "members" not in forecast.json() and "sectors" not in forecast.json()
        new = client.post("/predict", json={}).json()
        assert new["probability"] == forecast.json()["probability"]
        for route in ("/members", "/sectors"):
            response = client.get(route)
            assert response.status_code == 404
            assert "retrain it with `sensex train`" in response.json()["detail"]
            assert "Traceback" not in response.text
    # The same index probability as the new bundle: member outputs add, they do not change.
    window = np.zeros((1, old.window, len(old.symbols), old.scaler.n_channels), np.float32)
    index_new, stocks = production_bundle.probabilities_with_members(window)
    assert stocks.shape == (1, len(old.symbols))
    assert np.allclose(old.probabilities(window), index_new)


def test_the_mlflow_run_logs_member_metrics_and_the_stock_output(trained_home, production_bundle):
    import mlflow

    from sensex.registry import tracking

    tracking.configure(trained_home["settings"])
    run = mlflow.MlflowClient().get_run(trained_home["train"]["run_id"])
    assert {"members_test_ic_mean", "members_test_auc_pooled", "members_valid_network_auc_pooled",
            "members_valid_logreg_auc_pooled", "baseline_reversal_members_test_ic_mean"} <= set(run.data.metrics)
    model = mlflow.pyfunc.load_model(run.data.tags[tracking.MODEL_URI_TAG])
    windows = np.zeros((2, production_bundle.window, len(production_bundle.symbols),
                        production_bundle.scaler.n_channels), np.float32)
    out = model.predict(windows)
    assert np.asarray(out["stock_logits"]).shape == (2, len(production_bundle.symbols))
