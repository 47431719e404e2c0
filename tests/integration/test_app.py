from importlib.util import find_spec

import pytest
from streamlit.testing.v1 import AppTest

from sensex.settings import get_settings

pytestmark = pytest.mark.integration
APP = find_spec("sensex.app.main").origin  # the path only: importing would run the app


def test_run_prediction_shows_the_forecast(trained_home, monkeypatch):
    monkeypatch.setenv("SENSEX_HOME", str(trained_home["settings"].home))
    get_settings.cache_clear()
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert any("SYNTHETIC" in w.value for w in at.warning)
    at.button(key="run_prediction").click().run()
    assert not at.exception
    labels = {m.label: m.value for m in at.metric}
    assert labels["Direction"] in ("UP", "DOWN")
    assert labels["Target date"] == "2022-01-03"
    assert labels["Confidence"] in ("Low", "Medium", "High", "no skill shown")
    assert any("Interval on P(UP)" in c.value and "skill" in c.value for c in at.caption)
    assert labels["P(UP)"].endswith("%")
    at.button(key="explain").click().run()
    assert not at.exception
    assert any("P(UP)" in c.value for c in at.caption)


def test_app_without_a_production_model_says_so(trained_home, tmp_path, monkeypatch):
    import shutil

    from sensex import store

    home = tmp_path / "no-model"
    shutil.copytree(trained_home["settings"].store_dir, home / "store")
    monkeypatch.setenv("SENSEX_HOME", str(home))
    get_settings.cache_clear()
    assert store.exists(home / "store")
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert any("No model in production" in w.value for w in at.warning)
    at.button(key="run_prediction").click().run()
    assert any("sensex registry setup" in e.value for e in at.error)


def test_app_without_data_says_what_to_do(home):
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert not at.exception
    assert any("sensex data update" in e.value for e in at.error)
