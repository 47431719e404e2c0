"""The dashboard's pages through Streamlit's AppTest: with and without a model, with stale and
with fresh data, with an empty and with a filled prediction log."""

import json
import re
import shutil
from datetime import datetime

import pandas as pd
import pytest
from app_pages import APP, fresh_app_caches, run_app, texts, use_home, visit  # noqa: F401 - fresh_app_caches is autouse
from streamlit.testing.v1 import AppTest

from sensex.core import jsonlog
from sensex.core.settings import get_settings
from sensex.market import calendar

pytestmark = pytest.mark.integration
PAGES = ["views/market.py", "views/track_record.py", "views/explanations.py", "views/monitoring.py"]
# The fixture's data ends on Fri 2021-12-31: on Mon 2022-01-03 before the close it is up to date.
BEFORE_THE_NEXT_CLOSE = datetime(2022, 1, 3, 10, 0, tzinfo=calendar.IST)


@pytest.fixture
def app_home(trained_home, monkeypatch):
    """The trained home, with its prediction log put back as it was after the test."""
    settings = trained_home["settings"]
    log = settings.logs_dir / jsonlog.PREDICTION_LOG
    saved = log.read_bytes() if log.exists() else None
    use_home(monkeypatch, settings.home)
    yield settings
    if saved is None:
        log.unlink(missing_ok=True)
    else:
        log.write_bytes(saved)


@pytest.fixture
def fresh_clock(monkeypatch):
    monkeypatch.setattr(calendar, "now_ist", lambda: BEFORE_THE_NEXT_CLOSE)


def metrics(at: AppTest) -> dict:
    return {m.label: m.value for m in at.metric}


def charts(at: AppTest) -> list:
    return at.get("plotly_chart")


def probability_bars(at: AppTest) -> list[str]:
    """The Forecast card's P(UP) bars (HTML, not Plotly: see `charts.probability_bar`)."""
    return [e.proto.body for e in at.get("html") if 'aria-label="P(UP)' in e.proto.body]


def test_fresh_data_shows_the_forecast_card_on_load(app_home, fresh_clock):
    at = run_app()
    assert "SYNTHETIC" in texts(at.warning)
    shown = metrics(at)
    assert shown["Target session"] == "Mon 2022-01-03"  # the next BSE session, with its weekday
    assert shown["P(UP)"].endswith("%")
    assert any(m.value in ("# :green[▲ UP]", "# :red[▼ DOWN]", "# :gray[● No call]") for m in at.markdown)
    bars = probability_bars(at)
    assert len(bars) == 1 and "50%: a coin" in bars[0] and f'aria-label="P(UP) {shown["P(UP)"]}"' in bars[0]
    assert not charts(at)  # the first page drawn needs none of Plotly's JavaScript
    assert "No forecast for the next session" not in texts(at.warning)
    at.button(key="run_prediction").click().run()
    assert not at.exception
    assert metrics(at)["P(UP)"] == shown["P(UP)"]
    assert metrics(at)["Confidence"] in ("Low", "Medium", "High", "no skill shown")
    assert ", interval " in texts(at.caption)  # the forecast's interval on P(UP)
    # How far, never which way: the range forecast on the card, in a sentence, and what it is not.
    forecast = at.session_state["forecast"]
    move = forecast["expected_move"]
    sentence = f"**Expected move ±{move['pct']:.1f}% (about {move['points']:,.0f} points)**"
    assert sentence in [m.value for m in at.markdown]
    assert "How far, not which way" in texts(at.info) and "never in which direction" in texts(at.info)
    assert f"{move['range_low']:,.0f} to {move['range_high']:,.0f}" in texts(at.caption)
    assert move["calibration"].startswith("the model's last ") and f"calibrated on {move['calibration']}" in texts(at.caption)
    assert "proves nothing about markets" in texts(at.caption)  # synthetic data

    visit(at, "views/explanations.py")
    # One number for P(UP) on every page.
    assert f"P(UP) {shown['P(UP)']} from data to Fri 2021-12-31" in texts(at.caption)
    assert "Noise floor: 0.1 pp" in texts(at.markdown)
    assert len(charts(at)) == 4  # families, members, the families' Shapley values, member x family heatmap
    at.button(key="explain").click().run()
    assert not at.exception and len(charts(at)) == 4


def test_stale_data_turns_the_card_into_a_warning(app_home):
    at = run_app()  # the fixture's data ends in 2021: today it is stale
    warning = texts(at.warning)
    assert "No forecast for the next session: the stored data is stale" in warning
    assert "sensex data update" in warning
    assert "Target session" not in metrics(at)  # no forecast in large type
    assert not [m for m in at.markdown if "▲" in m.value or "▼" in m.value]
    assert "days old" in texts(at.markdown) and "sessions behind): update" in texts(at.markdown)  # the badge
    at.button(key="run_prediction").click().run()
    assert not at.exception and "No forecast for the next session" in texts(at.warning)
    for page in PAGES:
        visit(at, page)
    assert int(metrics(at)["Sessions behind"].replace(",", "")) > 1000  # monitoring: age in sessions
    # monitoring: the drift report's three parts, each with its severity and reason
    shown = texts(at.markdown)
    for title in ("Performance on unseen sessions", "Feature drift (PSI per family)", "Live record (closed forecasts)"):
        assert title in shown
    assert "drift: " in shown and "not seen in training" in texts(at.caption)  # the performance part's reason


def test_the_forecast_card_gives_the_model_cards_skill_reasons_and_says_when_the_model_learnt_other_prices(
        app_home, fresh_clock, monkeypatch):
    from sensex.interfaces.app.backend import LocalBackend

    other = ("The production model was trained on SYNTHETIC prices but the store now holds real ones: retrain with"
             " `sensex train` then `sensex registry setup`.")
    real = LocalBackend.predict
    monkeypatch.setattr(LocalBackend, "predict", lambda self: {
        **real(self), "skill": "none", "skill_reasons": ["it made no call on 96% of its test sessions"],
        "data_warning": other})
    at = run_app()
    assert "No skill shown (it made no call on 96% of its test sessions): read its P(UP) as a coin flip" in texts(at.warning)
    assert other in texts(at.error)


def test_the_model_card_says_when_the_model_learnt_other_prices(app_home, monkeypatch):
    from sensex.interfaces.app.backend import LocalBackend

    other = ("The production model was trained on SYNTHETIC prices but the store now holds real ones: retrain with"
             " `sensex train` then `sensex registry setup`.")
    real = LocalBackend.model_card
    monkeypatch.setattr(LocalBackend, "model_card", lambda self: {**real(self), "data_warning": other})
    at = visit(run_app(), "views/track_record.py")
    assert other in texts(at.error)


READY = ":green-badge[ready to forecast]"
STALE = ":orange-badge[stale: forecasts would be for a past session]"


def test_monitoring_never_says_ready_to_forecast_beside_a_stale_store(app_home):
    at = visit(run_app(), "views/monitoring.py")  # the fixture's data ends in 2021: today it is stale
    badges = [m.value for m in at.markdown]
    assert STALE in badges and READY not in badges
    assert any("days old" in badge and badge.startswith(":red-badge[") for badge in badges)


def test_monitoring_says_ready_to_forecast_beside_a_fresh_store(app_home, fresh_clock):
    badges = [m.value for m in visit(run_app(), "views/monitoring.py").markdown]
    assert READY in badges and STALE not in badges


def test_a_stale_no_call_is_not_reported_as_a_direction(app_home, monkeypatch):
    from sensex.interfaces.app.backend import LocalBackend

    real = LocalBackend.predict
    monkeypatch.setattr(LocalBackend, "predict", lambda self: {**real(self), "direction": "UP", "no_call": True})
    at = run_app()  # stale: the fixture's data ends in 2021
    assert "No forecast for the next session" in texts(at.warning)
    record = next(c.value for c in at.caption if c.value.startswith("For the record"))
    assert "the model makes no call" in record and "says UP" not in record


def test_market_page_draws_candles_treemap_and_formatted_movers(app_home, fresh_clock):
    at = visit(run_app(), "views/market.py")
    assert len(charts(at)) == 3  # candles with volume, treemap, sector bars
    # After the last candle, the range forecast's 80% band for the next session's close.
    move = at.session_state["forecast"]["expected_move"]
    candles = json.loads(charts(at)[0].proto.spec)
    band = next(t for t in candles["data"] if t.get("name") == "80% band, next session")
    assert band["y"] == [move["range_low"], move["range_high"]] and band["x"][0].startswith("2022-01-03")
    assert "never which way" in texts(at.caption)
    assert at.segmented_control(key="history_range").value == "12 months"
    assert "last 252 sessions" in texts(at.subheader)
    at.segmented_control(key="history_range").set_value("6 months").run()
    assert not at.exception and "last 126 sessions" in texts(at.subheader)
    gainers, losers = (m.value for m in at.markdown if m.value.startswith("| Symbol | Company | Close | Change |"))
    # Every change a signed percentage, green for gainers and red for losers: a rise is never a loss.
    assert re.findall(r":(\w+)\[\*\*([+-])\d+\.\d\d%\*\*\]", gainers) == [("green", "+")] * 5
    assert {m for m in re.findall(r":(\w+)\[\*\*([+-])\d+\.\d\d%\*\*\]", losers)} == {("red", "-")}


def test_track_record_with_live_forecasts(app_home, fresh_clock):
    from sensex.serving.model_server import ModelServer

    # A month of daily use: each session's forecast logged in the morning after that session.
    server = ModelServer(app_home)
    sessions = calendar.sessions("2021-11-15", "2021-12-30")
    log = app_home.logs_dir / jsonlog.PREDICTION_LOG
    log.unlink(missing_ok=True)
    for day in sessions:
        forecast = server.predict(as_of=str(day.date()), log_prediction=False)
        for _ in range(2):  # opened twice: counts once
            jsonlog.append(log, {
                "timestamp": f"{calendar.next_session(day).date()}T03:00:00+00:00",
                "prediction": {k: forecast[k] for k in ("direction", "probability", "confidence")},
                "model_version": forecast["model_version"], "as_of": forecast["as_of"],
                "target_date": forecast["target_date"], "data_source": "synthetic", "back_dated": False,
                "expected_move": forecast["expected_move"]})
    server.predict(as_of="2021-06-01")  # a back-dated query: kept apart

    at = visit(run_app(), "views/track_record.py")
    shown = metrics(at)
    # The Forecast page also logged a forecast on load, stamped with the real clock: years after
    # its target session, so not live.
    assert shown["Sessions forecast"] == str(len(sessions))
    assert shown["Resolved"] == str(len(sessions))
    assert shown["Hit rate"].endswith("%") and "always UP" in at.metric[2].delta
    assert len(charts(at)) == 3  # live forecasts, rolling hit rate and Brier, reliability
    table = at.dataframe[0].value
    assert len(table) == len(sessions) and not table.isna().any().any()
    assert set(table["correct"]) == {"✓ yes", "✗ no"}
    assert table["P(UP)"].str.fullmatch(r"\d{1,3}\.\d%").all()
    assert (table["times logged"] == 2).all()
    # The live coverage of the range forecast's band: how often the close landed inside it.
    from sensex.serving.views import index_closes

    stored = index_closes(server)
    inside = 0
    for day in sessions:
        forecast = server.predict(as_of=str(day.date()), log_prediction=False)
        close = stored[pd.Timestamp(forecast["target_date"])]
        inside += forecast["expected_move"]["range_low"] <= close <= forecast["expected_move"]["range_high"]
    assert shown["Closes inside the band"] == f"{inside} of {len(sessions)}"
    assert shown["Band coverage"] == f"{inside / len(sessions):.0%}"
    assert set(table["close in band"]) <= {"✓ yes", "✗ no"} and (table["close in band"] == "✓ yes").sum() == inside
    apart = at.dataframe[1].value.set_index("as of")["why not live"].to_dict()
    assert apart == {"Fri 2021-12-31": "after the target closed", "Tue 2021-06-01": "back-dated"}
    assert "Model card" in texts(at.subheader) and metrics(at)["Stage"] == "Production"


def test_track_record_with_an_empty_history(app_home, fresh_clock):
    at = run_app()
    (app_home.logs_dir / jsonlog.PREDICTION_LOG).unlink()  # as if nobody had forecast yet
    visit(at, "views/track_record.py")
    assert "No live forecasts yet" in texts(at.info)
    assert not charts(at)
    assert metrics(at)["Version"] == "v1"  # the model card still shows


def test_every_page_without_a_production_model(trained_home, tmp_path, monkeypatch):
    home = tmp_path / "no-model"
    shutil.copytree(trained_home["settings"].store_dir, home / "store")
    monkeypatch.setenv("SENSEX_HOME", str(home))
    get_settings.cache_clear()
    at = run_app()
    assert "No production model" in texts(at.warning)
    at.button(key="run_prediction").click().run()
    assert "sensex registry setup" in texts(at.error)
    for page in PAGES:
        visit(at, page)
        if page in ("views/track_record.py", "views/explanations.py"):
            assert "No production model" in texts(at.warning), page
    assert "UNHEALTHY" in texts(at.markdown)  # monitoring: the status chip
    visit(at, "views/market.py")
    assert len(charts(at)) == 3  # the market needs data, not a model


def test_app_without_data_says_what_to_do(home):
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert not at.exception
    assert "sensex data update" in texts(at.error)
    assert "offline, import newer CSV files with `sensex data update --source csv --csv-dir DIR`" in texts(at.error)


def test_data_summary_counts_sessions_behind(monkeypatch):
    from sensex.interfaces.app.backend import summarize_data

    monkeypatch.setattr(calendar, "now_ist", lambda: BEFORE_THE_NEXT_CLOSE)
    assert summarize_data("csv", "2021-12-31")["sessions_behind"] == 0
    behind = summarize_data("csv", "2021-12-29")
    assert behind["stale"] and behind["sessions_behind"] == 2 and behind["days_old"] == 5
    assert summarize_data("synthetic", None)["stale"] and not summarize_data("synthetic", None)["available"]
    assert pd.Timestamp(summarize_data("csv", "2021-12-31")["expected_last_date"]) == pd.Timestamp("2021-12-31")


@pytest.fixture
def api_url(app_home, monkeypatch):
    """`sensex serve` on the trained home, and the app pointed at it."""
    import subprocess
    import sys
    import time

    import httpx
    from conftest import free_port

    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "sensex", "serve", "--port", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and process.poll() is None:
            try:
                httpx.get(f"{url}/health", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            pytest.fail("the API did not start within 90 s")
        monkeypatch.setenv("SENSEX_API_URL", url)
        get_settings.cache_clear()
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_every_page_through_the_rest_api(api_url):
    at = run_app()
    assert "SYNTHETIC" in texts(at.warning)
    assert "No forecast for the next session" in texts(at.warning)  # the API's data is as stale
    # No universe selector: the API serves the universe it was started with, and the sidebar says so.
    assert not at.sidebar.selectbox and "the one the REST API serves" in texts(at.sidebar.caption)
    visit(at, "views/market.py")
    assert len(charts(at)) == 3 and "last 252 sessions" in texts(at.subheader)
    visit(at, "views/track_record.py")
    assert metrics(at)["Stage"] == "Production"
    visit(at, "views/explanations.py")
    assert len(charts(at)) == 4
    visit(at, "views/monitoring.py")
    assert "DEGRADED" in texts(at.markdown) and metrics(at)["Valid members"] == "30/30"


def test_an_api_that_does_not_answer_is_one_sentence(app_home, monkeypatch):
    from conftest import free_port

    monkeypatch.setenv("SENSEX_API_URL", f"http://127.0.0.1:{free_port()}")
    get_settings.cache_clear()
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert not at.exception
    assert "does not answer" in texts(at.error) and "sensex serve" in texts(at.error)
