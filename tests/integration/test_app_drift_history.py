"""The Monitoring page's drift over time (Streamlit AppTest): the PSI and rolling-performance charts
with a model, a sentence for a history too short to draw, nothing but the drift section's own
message without a model."""

from __future__ import annotations

import shutil

import pytest
from app_pages import fresh_app_caches, run_app, texts, use_home, visit  # noqa: F401 - fresh_app_caches is autouse
from streamlit.testing.v1 import AppTest

from sensex.core import jsonlog
from sensex.core.settings import get_settings
from sensex.interfaces.app.backend import LocalBackend
from sensex.market import calendar
from sensex.monitoring.live_record import MIN_SESSIONS

pytestmark = pytest.mark.integration
MONITORING = "views/monitoring.py"


@pytest.fixture
def model_home(trained_home, tmp_path, monkeypatch):
    """A copy of the trained home (the pages log forecasts: not into the shared one)."""
    home = tmp_path / "home"
    shutil.copytree(trained_home["settings"].home, home)
    use_home(monkeypatch, home)
    return home


def monitoring() -> AppTest:
    return visit(run_app(timeout=120), MONITORING)


def test_the_monitoring_page_draws_psi_and_rolling_performance_over_time(model_home):
    at = monitoring()
    assert "Drift over time" in texts(at.markdown)
    caption = texts(at.caption)
    assert "every 20 sessions from the end of training" in caption
    assert "PSI: the last 60 sessions after training against the training window" in caption
    assert "known on that date" in caption
    figures = {chart.proto.id: chart.proto.spec for chart in at.get("plotly_chart")}
    psi = next(spec for spec in figures.values() if "watch 0.10" in spec)
    assert "retrain 0.25" in psi and "market context" in psi
    performance = next(spec for spec in figures.values() if "always UP" in spec)
    assert "Brier, last 60 labelled sessions" in performance and "AUC, last 60 labelled sessions" in performance


@pytest.mark.parametrize("points, sentence", [
    ([], "No drift history to draw yet: No session is stored after the training window"),
    ([{"date": "2021-08-04", "features": {"sessions": 20, "severity": "ok", "families": {}},
       "performance": {"n": 0, "brier": None}}], "Only one as-of point so far (Wed 2021-08-04)"),
])
def test_a_history_too_short_to_draw_is_a_sentence(model_home, monkeypatch, points, sentence):
    short = {"version": "1", "mode": "close", "step": 20, "recent_sessions": 60, "training": ["2020-09-15", "2021-07-06"],
             "validation_end": "2021-10-01", "thresholds": {"watch": 0.1, "retrain": 0.25}, "min_sessions": 20,
             "families": [], "points": points,
             "reason": "No session is stored after the training window (2021-07-06): the history starts once there is one."}
    monkeypatch.setattr(LocalBackend, "drift_history", lambda self, step=20, sessions=60: short)
    at = monitoring()
    assert sentence in texts(at.info)
    assert not [chart for chart in at.get("plotly_chart") if "watch 0.10" in chart.proto.spec]
    assert not at.error


def test_without_a_model_the_history_adds_no_error(trained_home, tmp_path, monkeypatch):
    from sensex.core.errors import ModelNotFoundError

    home = tmp_path / "no-model"
    shutil.copytree(trained_home["settings"].store_dir, home / "store")
    use_home(monkeypatch, home)
    asked = []
    real = LocalBackend.drift_history

    def spied(self, step=20, sessions=60):
        asked.append(step)
        return real(self, step, sessions)

    monkeypatch.setattr(LocalBackend, "drift_history", spied)
    at = monitoring()
    assert asked  # the page asked, and the missing model ...
    with pytest.raises(ModelNotFoundError):
        real(LocalBackend(get_settings()))
    # ... added no message of its own: the health check's and the drift section's are the only ones.
    errors = [e.value for e in at.error]
    assert len(errors) == 2 and all("No production model" in e for e in errors)
    assert not at.get("plotly_chart") and "No drift history" not in texts(at.info)


def test_a_live_record_of_no_calls_only_shows_no_hit_rate(model_home):
    """Enough closed forecasts to judge the live record, every one a no call: abstentions, not a 0% hit rate."""
    log = get_settings().logs_dir / jsonlog.PREDICTION_LOG
    log.unlink(missing_ok=True)
    for day in calendar.sessions("2021-11-01", "2021-12-30")[:MIN_SESSIONS]:
        jsonlog.append(log, {"timestamp": f"{calendar.next_session(day).date()}T03:00:00+00:00",
                             "prediction": {"direction": "UP", "probability": 0.501, "confidence": "Low", "no_call": True},
                             "model_version": "1", "as_of": str(day.date()),
                             "target_date": str(calendar.next_session(day).date()), "back_dated": False})
    at = monitoring()
    shown = {m.label: m.value for m in at.metric}
    assert shown["Live forecasts scored"] == str(MIN_SESSIONS) and shown["Hit rate"] == "no calls yet"
    assert f"{MIN_SESSIONS} of the {MIN_SESSIONS} forecasts were no calls: abstentions" in texts(at.caption)
