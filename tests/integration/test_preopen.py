"""The pre-open mode end to end: train, register under its own name, evaluate, serve, refuse."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pandas as pd
import pytest
from conftest import TINY_CONFIG, TINY_GATE
from fastapi.testclient import TestClient

from sensex.core.errors import ConfigError, DataError, ModelNotFoundError
from sensex.core.settings import load_settings
from sensex.data import store
from sensex.interfaces.api import create_app
from sensex.jobs import commands
from sensex.market import context
from sensex.serving import ModelRegistry
from sensex.serving.model_server import ModelServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def both_modes(trained_home, tmp_path_factory):
    """A copy of the close-mode home (its synthetic store holds the S&P 500) plus a tiny
    pre-open model, promoted under its own registered name."""
    root = tmp_path_factory.mktemp("preopen")
    shutil.copytree(trained_home["settings"].home, root / "home")
    settings = load_settings({"SENSEX_HOME": str(root / "home")})
    config = root / "tiny.yaml"
    config.write_text(TINY_CONFIG)
    trained = commands.train(settings, str(config), mode="preopen")
    promoted = ModelRegistry(settings, promotion=TINY_GATE, mode="preopen").setup_automated_promotion()
    return {"settings": settings, "train": trained, "promoted": promoted}


def test_training_reports_the_sp500_rule_and_the_move_after_the_open(both_modes):
    trained = both_modes["train"]
    assert trained["mode"] == "preopen"
    assert set(trained["baselines"]) == {"always_up", "prev_day", "logreg", "gbm", "sp500_rule"}
    assert set(trained["baselines_after_open"]) == set(trained["baselines"])
    after = trained["metrics_after_open"]
    assert after["n"] == trained["metrics"]["test_n"] and 0.0 <= after["auc"] <= 1.0


def test_each_mode_has_its_own_registered_model(both_modes):
    settings = both_modes["settings"]
    preopen = ModelRegistry(settings, mode="preopen")
    close = ModelRegistry(settings)
    assert preopen.model_name == "sensex-preopen-model" and close.model_name == "sensex-convlstm-model"
    assert both_modes["promoted"]["stage"] == "Production" and both_modes["promoted"]["mode"] == "preopen"
    assert [v["run_id"] for v in preopen.list_all_versions()] == [both_modes["train"]["run_id"]]
    # The pre-open run never lands in the close model, and the close production is untouched.
    assert both_modes["train"]["run_id"] not in {v["run_id"] for v in close.list_all_versions()}
    assert close.register_new_runs() == []
    assert close.require_production_model()["mode"] == "close"


def test_evaluate_preopen_has_the_sp500_rule_and_every_mode_scores_after_the_open(both_modes):
    settings = both_modes["settings"]
    preopen = commands.evaluate(settings, "2021-06-01", "2021-12-31", mode="preopen")
    assert preopen["mode"] == "preopen" and "sp500_rule" in preopen["baselines"]
    assert preopen["metrics_after_open"]["n"] == preopen["n"]
    close = commands.evaluate(settings, "2021-06-01", "2021-12-31")
    assert close["mode"] == "close" and "sp500_rule" not in close["baselines"]
    assert close["metrics_after_open"]["n"] == close["n"]
    with pytest.raises(ConfigError, match="--mode preopen"):
        commands.evaluate(settings, "2021-06-01", "2021-12-31", run_id=both_modes["train"]["run_id"], mode="close")


def test_preopen_forecast_names_the_market_data_it_used(both_modes):
    server = ModelServer(both_modes["settings"], mode="preopen")
    latest = server.predict()
    assert latest["mode"] == "preopen" and latest["last_bse_session"] == latest["as_of"] == "2021-12-31"
    assert latest["target_date"] == "2022-01-03" and latest["last_sp500_session"] == "2021-12-31"
    # BSE was closed on Wednesday 2021-07-21, NYSE open: the forecast for 07-22 knows that session.
    holiday = server.predict(as_of="2021-07-20")
    assert holiday["target_date"] == "2021-07-22" and holiday["last_sp500_session"] == "2021-07-21"
    close = ModelServer(both_modes["settings"]).predict()
    assert close["mode"] == "close" and close["last_sp500_session"] is None


def test_without_recent_sp500_the_preopen_forecast_says_why_and_close_still_works(both_modes, tmp_path):
    shutil.copytree(both_modes["settings"].home, tmp_path / "home")
    settings = load_settings({"SENSEX_HOME": str(tmp_path / "home")})
    frame = store.read(settings.store_dir)
    lagging = (frame["symbol"] == context.SP500.symbol) & (frame["date"] > "2021-12-20")
    store.write(settings.store_dir, frame[~lagging], "synthetic")
    with pytest.raises(DataError, match=r"needs the S&P 500 close of 2021-12-31.*2021-12-20"):
        ModelServer(settings, mode="preopen").predict()
    assert ModelServer(settings).predict()["direction"] in ("UP", "DOWN")
    store.write(settings.store_dir, frame[frame["symbol"] != context.SP500.symbol], "synthetic")
    with pytest.raises(DataError, match=r"needs the S&P 500 \(\^GSPC\) in the store"):
        ModelServer(settings, mode="preopen").predict()


def test_api_serves_both_modes(both_modes):
    with TestClient(create_app(both_modes["settings"])) as client:
        close = client.post("/predict").json()
        preopen = client.post("/predict", json={"mode": "preopen"}).json()
        assert close["mode"] == "close" and preopen["mode"] == "preopen"
        assert preopen["last_sp500_session"] == "2021-12-31" and preopen["model_version"] == "1"
        assert client.post("/predict", json={"mode": "overnight"}).status_code == 422


def test_api_without_a_preopen_model_still_serves_close(trained_home):
    with TestClient(create_app(trained_home["settings"])) as client:
        assert client.post("/predict").status_code == 200
        missing = client.post("/predict", json={"mode": "preopen"})
        assert missing.status_code == 503 and "--mode preopen" in missing.json()["detail"]


def test_cli_mode_option(both_modes):
    env = {**os.environ, "SENSEX_HOME": str(both_modes["settings"].home), "SENSEX_LOG_LEVEL": "WARNING"}

    def run(*args):
        return subprocess.run([sys.executable, "-m", "sensex", *args], capture_output=True, text=True, env=env, timeout=300)

    listed = run("registry", "list", "--mode", "preopen", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [v["mode"] for v in json.loads(listed.stdout)["versions"]] == ["preopen"]
    forecast = run("predict", "--mode", "preopen", "--json")
    assert forecast.returncode == 0, forecast.stderr
    assert json.loads(forecast.stdout)["last_sp500_session"] == "2021-12-31"
    wrong = run("predict", "--mode", "overnight")
    assert wrong.returncode != 0 and "Unknown mode 'overnight'" in wrong.stderr


def test_missing_preopen_model_error_names_the_mode(trained_home):
    with pytest.raises(ModelNotFoundError, match="--mode preopen"):
        ModelServer(trained_home["settings"], mode="preopen").predict()
    assert pd.Timestamp(ModelServer(trained_home["settings"]).predict()["as_of"]) == pd.Timestamp("2021-12-31")


def test_the_dashboard_shows_the_preopen_forecast_first_before_bses_open(both_modes, monkeypatch):
    """From the S&P 500's close until BSE opens, with a pre-open model in production, the Forecast
    page leads with the pre-open forecast and keeps the close-mode one below it."""
    from datetime import datetime
    from importlib.util import find_spec

    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from sensex.core.cache import get_cache
    from sensex.core.settings import get_settings
    from sensex.data.sources import yahoo
    from sensex.market import calendar

    monkeypatch.setattr(yahoo, "is_reachable", lambda *a, **k: False)  # offline: no live quote is asked for
    # 08:00 IST on Monday 2022-01-03: the S&P 500's Friday session closed at 02:30 IST, BSE opens at 09:15.
    monkeypatch.setattr(calendar, "now_ist", lambda: datetime(2022, 1, 3, 8, 0, tzinfo=calendar.IST))
    monkeypatch.setenv("SENSEX_HOME", str(both_modes["settings"].home))
    get_settings.cache_clear()
    st.cache_resource.clear()
    st.cache_data.clear()
    get_cache().clear()
    at = AppTest.from_file(find_spec("sensex.interfaces.app.main").origin, default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    headings = [h.value for h in at.subheader]
    assert headings.index("Pre-open forecast: read this one first") < headings.index("Close-mode forecast")
    bars = [e for e in at.get("html") if 'aria-label="P(UP)' in e.proto.body]
    assert len(bars) == 2  # a P(UP) bar for each mode's card
    assert not at.error
