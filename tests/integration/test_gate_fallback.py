"""When no trained model passes the gate: the refusal names the condition with its figures, and
the CLI, the library and the API still answer, with the logistic-regression baseline's forecast
labelled as such. Once a model passes, it serves instead."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import FIXTURE_END, FIXTURE_START, TINY_CONFIG, TINY_GATE

from sensex.core import jsonlog
from sensex.core.errors import PromotionRejected
from sensex.core.settings import load_settings
from sensex.data.ingest import update_store
from sensex.jobs import commands
from sensex.models.config import PromotionConfig
from sensex.serving import ModelRegistry
from sensex.serving.model_server import ModelServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# No model's P(UP) varies this much: every candidate is refused, deterministically.
REFUSE_ALL = PromotionConfig(min_accuracy=0.0, min_auc=0.0, min_probability_sd=0.9)


@pytest.fixture(scope="module")
def refused_home(tmp_path_factory, universe):
    root = tmp_path_factory.mktemp("refused")
    settings = load_settings({"SENSEX_HOME": str(root / "home")})
    update_store(settings, universe, "synthetic", start=FIXTURE_START, end=FIXTURE_END, yahoo_reachable=lambda: False)
    config = root / "tiny.yaml"
    config.write_text(TINY_CONFIG)
    trained = commands.train(settings, str(config))
    strict = root / "refuse-all.yaml"
    strict.write_text("promotion: {min_accuracy: 0.0, min_auc: 0.0, min_probability_sd: 0.9}\n")
    return settings, trained, strict


def _cli(settings, *args):
    env = {**os.environ, "SENSEX_HOME": str(settings.home), "SENSEX_LOG_LEVEL": "WARNING"}
    return subprocess.run([sys.executable, "-m", "sensex", *args], capture_output=True, text=True, env=env, timeout=300)


def test_setup_refuses_with_the_condition_and_figures_and_logs_it(refused_home):
    settings, _, strict = refused_home
    out = _cli(settings, "registry", "setup", "--preset", str(strict))
    assert out.returncode != 0 and "Traceback" not in out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert "No version passes the promotion gate (v1: its P(UP) is collapsed: standard deviation" in errors[0]
    assert "(at least 0.9 needed)" in errors[0] and "baseline" in errors[0]
    event = jsonlog.read(settings.logs_dir / jsonlog.PROMOTION_LOG)[-1]
    assert event["event_type"] == "rejected" and "collapsed" in event["reasons"]["1"][0]
    assert event["gates"]["1"]["baselines"]["always_up"]["brier"] > 0
    assert ModelRegistry(settings).get_production_model() is None


def test_promote_refuses_by_name_with_the_figures(refused_home):
    settings, _, _ = refused_home
    with pytest.raises(PromotionRejected, match=r"Version 1 fails the promotion gate: its P\(UP\) is collapsed"):
        ModelRegistry(settings, promotion=REFUSE_ALL).promote_model_to_production("1")


def test_without_a_production_model_the_forecast_is_the_labelled_baseline(refused_home):
    settings, _, _ = refused_home
    forecast = ModelServer(settings).predict(log_prediction=False)
    assert forecast["model_version"] == "baseline:logreg" and forecast["model_kind"] == "baseline"
    assert forecast["note"].startswith("No trained model passed the promotion gate, so this is the logistic-regression baseline")
    assert forecast["skill"] in ("shown", "none") and isinstance(forecast["no_call"], bool)
    low, high = forecast["interval"]
    assert low <= forecast["probability"] <= high
    # It is the saved logistic regression applied to the last session, nothing else.
    from sensex.features.dataset import load_panel
    from sensex.market.universe import load_universe
    from sensex.models.designs import index_design, latest_session_design
    from sensex.models.portable import baseline_probabilities

    _, bundle = ModelRegistry(settings).fallback_bundle()
    panel = load_panel(settings, load_universe())
    expected = baseline_probabilities(bundle.meta.baselines, index_design(panel)[-1:], latest_session_design(panel)[-1:])
    assert forecast["probability"] == pytest.approx(float(expected["logreg"][0]), abs=5e-5)


def test_the_cli_and_the_api_label_the_baseline_too(refused_home):
    from fastapi.testclient import TestClient

    from sensex.interfaces.api import create_app

    settings, _, _ = refused_home
    out = _cli(settings, "predict", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["model_version"] == "baseline:logreg"
    human = _cli(settings, "predict")
    assert "BASELINE logreg, no model passed the gate" in human.stdout
    with TestClient(create_app(settings)) as client:
        body = client.post("/predict").json()
        assert body["model_version"] == "baseline:logreg" and {"interval", "no_call", "skill"} <= set(body)
        assert "labelled baseline" in client.get("/health").json()["detail"]["fallback"]


def test_the_dashboard_shows_the_baseline_forecast_labelled(refused_home, monkeypatch):
    from importlib.util import find_spec

    from streamlit.testing.v1 import AppTest

    from sensex.core.settings import get_settings

    settings, _, _ = refused_home
    ModelRegistry(settings).register_new_runs()  # as `registry setup` does before it refuses
    monkeypatch.setenv("SENSEX_HOME", str(settings.home))
    get_settings.cache_clear()
    at = AppTest.from_file(find_spec("sensex.interfaces.app.main").origin, default_timeout=60).run()
    # The forecast is computed on load: the baseline's, labelled, never a blank page or an error.
    assert not at.exception and not at.error
    assert any("BASELINE FORECAST (baseline:logreg)" in w.value for w in at.warning)
    # The fixture's data ends in 2021, so the card is the stale warning; the footnote names the baseline.
    assert any("Model vbaseline:logreg" in c.value for c in at.caption)
    at.button(key="run_prediction").click().run()
    assert not at.exception and not at.error
    assert any("BASELINE FORECAST (baseline:logreg)" in w.value for w in at.warning)


def test_the_baseline_is_served_without_mlflow_once_its_bundle_is_fetched(refused_home):
    settings, _, _ = refused_home
    ModelRegistry(settings).register_new_runs()  # as `registry setup` does before it refuses
    ModelRegistry(settings).fallback_bundle()  # fetches the newest version's bundle into cache/models
    code = ("import json, sys; from sensex.serving.model_server import ModelServer\n"
            "server = ModelServer()\n"
            "forecast = server.predict(log_prediction=False)\n"
            "print(json.dumps([forecast['model_version'], server.health_check()['detail'].get('fallback') is not None,"
            " 'mlflow' in sys.modules]))")
    env = {**os.environ, "SENSEX_HOME": str(settings.home), "SENSEX_LOG_LEVEL": "WARNING"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == ["baseline:logreg", True, False]


def test_a_model_that_passes_replaces_the_baseline(refused_home):
    settings, trained, _ = refused_home
    promoted = ModelRegistry(settings, promotion=TINY_GATE).setup_automated_promotion()
    assert promoted["promoted"] is True and promoted["gate"]["passed"] is True
    assert promoted["gate"]["rows"]["n"] == trained["metrics"]["test_n"]
    forecast = ModelServer(settings).predict(log_prediction=False)
    assert forecast["model_version"] == promoted["version"] and forecast["model_kind"] == "convlstm"
    assert np.isfinite(forecast["probability"])
