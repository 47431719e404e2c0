"""A SENSEX_HOME damaged file by file, in each way a crash, a disk or a person damages it, against
the API (`sensex serve` in-process) and a restarted model server:

- meta.json (derived): rebuilt from the data file; every route answers as before;
- ohlcv.parquet (the source): refused in one sentence naming it (restore or re-import), `/health`
  degraded with that reason; the model is not blamed and keeps being served;
- the window cache (derived): deleted and computed again, by the reader;
- the calendar cache (derived): rebuilt from exchange_calendars;
- the prediction log: a line that is not one of our records is skipped.

No route answers 500 for any of them.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from sensex.core import jsonlog
from sensex.core.cache import get_cache
from sensex.data import store
from sensex.interfaces.api import create_app
from sensex.market import calendar
from sensex.serving import window_cache
from sensex.serving.latest_windows import prepare_latest_windows
from sensex.serving.model_server import ModelServer

pytestmark = pytest.mark.integration

AS_OF = "2021-12-15"
META_DAMAGE = {"a list": b"[]", "a string": b'"text"', "torn": b'{"rows": 12', "empty": b"",
               "wrong types": b'{"rows": "many", "last_date": 5}', "NaN": b'{"rows": NaN}'}
DATA_DAMAGE = ["truncated", "garbled", "empty"]


@contextmanager
def serving(settings):
    get_cache(settings).clear()  # the process-wide memory cache may hold the undamaged home's answers
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def no_500(client, method: str, path: str, **kwargs):
    response = client.request(method, path, **kwargs)
    assert response.status_code < 500 or response.status_code == 503, (path, response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json"), (path, response.text)
    return response


def damage_data(settings, how: str) -> None:
    path = settings.store_dir / store.DATA_FILE
    data = path.read_bytes()
    path.write_bytes({"truncated": data[: len(data) // 2], "garbled": os.urandom(len(data)), "empty": b""}[how])


# -- meta.json ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("content", META_DAMAGE.values(), ids=META_DAMAGE.keys())
def test_a_damaged_meta_json_is_rebuilt_and_every_route_answers(own_home, content):
    (own_home.store_dir / store.META_FILE).write_bytes(content)
    # A restarted server accepts the healthy model (it used to fail its smoke test on the bad meta.json).
    assert ModelServer(own_home).load_production_model()["version"] == "1"
    (own_home.store_dir / store.META_FILE).write_bytes(content)
    with serving(own_home) as client:
        health = no_500(client, "GET", "/health").json()
        assert health["checks"]["model_loaded"] and health["status"] != "unhealthy"
        assert no_500(client, "POST", "/predict", json={"as_of": AS_OF}).status_code == 200
        for path in ("/members", "/explain", "/drift", "/market", "/market/history", "/data/status", "/predictions"):
            no_500(client, "GET", path, params={"as_of": AS_OF} if path in ("/members", "/explain") else None)
        assert no_500(client, "GET", "/explain", params={"as_of": AS_OF}).status_code == 200
        assert no_500(client, "GET", "/market").json()["as_of"] == "2021-12-31"
    meta = json.loads((own_home.store_dir / store.META_FILE).read_text())
    assert isinstance(meta, dict) and meta["last_date"] == "2021-12-31"


# -- ohlcv.parquet ------------------------------------------------------------------------------------
@pytest.mark.parametrize("how", DATA_DAMAGE)
def test_a_damaged_data_file_is_refused_by_name_and_the_model_is_not_blamed(own_home, how):
    damage_data(own_home, how)
    server = ModelServer(own_home)
    assert server.load_production_model()["version"] == "1"  # not "fails its smoke inference (ArrowInvalid ...)"
    with serving(own_home) as client:
        health = no_500(client, "GET", "/health")
        report = health.json()
        assert health.status_code == 200 and report["status"] == "degraded", report
        assert store.DATA_FILE in report["reason"] and "restore" in report["reason"], report
        assert report["checks"]["model_loaded"] and report["model_version"] == "1"
        assert "smoke" not in json.dumps(report)
        for method, path, kwargs in (("POST", "/predict", {}), ("POST", "/predict", {"json": {"as_of": AS_OF}}),
                                     ("GET", "/members", {}), ("GET", "/explain", {}), ("GET", "/drift", {}),
                                     ("GET", "/market", {}), ("GET", "/market/history", {}),
                                     ("GET", "/data/status", {}), ("GET", "/predictions", {})):
            response = no_500(client, method, path, **kwargs)
            if response.status_code == 503:
                assert store.DATA_FILE in response.json()["detail"], (path, response.json())
        refused = no_500(client, "POST", "/predict")
        assert refused.status_code == 503 and "sensex data update" in refused.json()["detail"]


def production_window(settings) -> Path:
    """The production model's kept window alone, as a promotion leaves it: the shared home's cache
    may also hold windows that other tests' servers kept for other models."""
    directory = settings.cache_dir / "windows"
    for kept in directory.glob("*.npz"):
        kept.unlink()
    assert prepare_latest_windows(settings) == ["close"]
    (path,) = directory.glob("close-*.npz")
    return path


# -- the window cache ---------------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["truncated", "garbled", "empty"])
def test_a_damaged_window_cache_is_rebuilt_by_the_reader(own_home, how):
    directory = own_home.cache_dir / "windows"
    path = production_window(own_home)
    data = path.read_bytes()
    path.write_bytes({"truncated": data[: len(data) // 2], "garbled": os.urandom(len(data)), "empty": b""}[how])
    assert window_cache.damaged(directory) == [path]
    with serving(own_home) as client:  # a restart: the smoke test reads the damaged file first
        health = no_500(client, "GET", "/health").json()
        assert health["checks"]["model_loaded"] and health["status"] != "unhealthy", health
        assert "BadZipFile" not in json.dumps(health)
        assert no_500(client, "POST", "/predict").status_code == 200
    assert window_cache.damaged(directory) == [] and path.is_file()
    with np.load(path, allow_pickle=False) as saved:
        assert saved["window"].ndim == 4


# -- the calendar cache -------------------------------------------------------------------------------
def test_a_damaged_calendar_cache_is_rebuilt_and_forecasts_go_on(own_home, monkeypatch):
    monkeypatch.setenv("SENSEX_HOME", str(own_home.home))
    from sensex.core.settings import get_settings

    get_settings.cache_clear()
    calendar._recorded_sessions.cache_clear()
    try:
        path = calendar._session_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b'{"calendar": "XBOM", "days": [1e30, 2e30]}')  # numbers, sorted, not days
        with serving(own_home) as client:
            assert no_500(client, "POST", "/predict").json()["target_date"] == "2022-01-03"
        days = json.loads(path.read_text())["days"]
        assert len(days) > 7000 and days == sorted(days)
    finally:
        calendar._recorded_sessions.cache_clear()


# -- the prediction log -------------------------------------------------------------------------------
def test_foreign_lines_in_the_prediction_log_are_skipped(own_home):
    from sensex.monitoring.drift import closed_forecasts

    # The copy of the shared home carries other tests' forecasts (one per session is logged):
    # start from an empty log so this test's forecast is the newest record.
    (own_home.logs_dir / jsonlog.PREDICTION_LOG).unlink(missing_ok=True)
    with serving(own_home) as client:
        assert no_500(client, "POST", "/predict", json={"as_of": AS_OF}).status_code == 200
        before = no_500(client, "GET", "/predictions").json()["predictions"]
        record_before = [table.to_dict("records") for table in closed_forecasts(own_home, "SENSEX", "close")]
        path = own_home.logs_dir / jsonlog.PREDICTION_LOG
        with open(path, "ab") as handle:
            handle.write(b'[1,2,3]\nNaN\n"text"\n{"prediction": "UP"}\n{"as_of": "yesterday"}\n'
                         b'{"as_of": ["2021-12-15"], "target_date": "2021-12-16"}\n'
                         b'{"as_of": "2021-12-15", "target_date": "2021-12-16", "prediction": {"probability": "high"}}\n')
        history = no_500(client, "GET", "/predictions")
        assert history.status_code == 200 and history.json()["predictions"] == before
        assert before[0]["as_of"] == AS_OF
        assert no_500(client, "GET", "/drift").status_code == 200
    assert [table.to_dict("records") for table in closed_forecasts(own_home, "SENSEX", "close")] == record_before


# -- registry doctor ----------------------------------------------------------------------------------
def test_registry_doctor_repairs_the_derived_files_and_names_a_damaged_data_file(own_home, monkeypatch, capsys):
    from sensex.core.settings import get_settings
    from sensex.interfaces import cli

    monkeypatch.setenv("SENSEX_HOME", str(own_home.home))
    get_settings.cache_clear()
    windows = own_home.cache_dir / "windows"
    window = production_window(own_home)
    window.write_bytes(window.read_bytes()[:100])
    meta = own_home.store_dir / store.META_FILE
    meta.write_bytes(b"[]")
    calendar._recorded_sessions.cache_clear()
    sessions = calendar._session_file()
    sessions.parent.mkdir(parents=True, exist_ok=True)
    sessions.write_bytes(b'{"days": "garbled"}')
    try:
        assert cli.run(["registry", "doctor", "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert str(window) in report["removed"] and window_cache.damaged(windows) == []
        assert "rebuilt the store's meta.json from its data file" in report["repairs"]
        assert json.loads(meta.read_text())["rows"] > 0
        assert "rebuilt the BSE calendar cache" in report["repairs"] and report["store_problem"] is None
        assert report["changed"] is True
        damage_data(own_home, "garbled")
        assert cli.run(["registry", "doctor", "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert store.DATA_FILE in report["store_problem"] and report["repairs"] == []
    finally:
        calendar._recorded_sessions.cache_clear()
        get_settings.cache_clear()
