"""The dashboard in a real browser: Debian's Chromium driven by Playwright, app started as users start it.

Visits every page through the top navigation, clicks every button, and fails on any Streamlit
exception box, error alert or browser console error. Screenshots go to the test's tmp_path
(or to $SENSEX_E2E_SCREENSHOTS when set).
"""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from conftest import free_port

from sensex.core import jsonlog
from sensex.market import calendar

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PAGES = ["Forecast", "Market", "Track record", "Explanations", "Monitoring"]


def write_a_month_of_live_forecasts(settings) -> int:
    """The prediction log of a month of daily use: each session's forecast, logged the next
    morning before the session it forecasts (what the track record scores)."""
    from sensex.serving.model_server import ModelServer

    server = ModelServer(settings)
    log = settings.logs_dir / jsonlog.PREDICTION_LOG
    log.unlink(missing_ok=True)
    sessions = calendar.sessions("2021-11-15", "2021-12-30")
    for day in sessions:
        forecast = server.predict(as_of=str(day.date()), log_prediction=False)
        jsonlog.append(log, {
            "timestamp": f"{calendar.next_session(day).date()}T03:00:00+00:00",
            "prediction": {k: forecast[k] for k in ("direction", "probability", "confidence")},
            "model_version": forecast["model_version"], "as_of": forecast["as_of"],
            "target_date": forecast["target_date"], "data_source": "synthetic", "back_dated": False})
    return len(sessions)


@pytest.fixture
def dashboard(trained_home):
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (apt-get install chromium); .ci/run installs it")
    settings = trained_home["settings"]
    log = settings.logs_dir / jsonlog.PREDICTION_LOG
    saved = log.read_bytes() if log.exists() else None
    write_a_month_of_live_forecasts(settings)
    port = free_port()
    env = {**os.environ, "SENSEX_HOME": str(settings.home), "STREAMLIT_SERVER_PORT": str(port)}
    process = subprocess.Popen([sys.executable, "-m", "sensex", "app"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/_stcore/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            pytest.fail("the dashboard did not start within 60 s")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        if saved is None:
            log.unlink(missing_ok=True)
        else:
            log.write_bytes(saved)


def settle(page) -> None:
    """Wait until the script run a click or a navigation started has finished."""
    page.wait_for_timeout(300)
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=90_000)
    page.wait_for_timeout(500)  # Plotly draws after the run ends


def assert_clean(page, where: str, console_errors: list[str]) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0, f"exception box on {where}"
    errors = page.locator('[data-testid="stAlertContentError"]')
    assert errors.count() == 0, f"error on {where}: {errors.all_inner_texts()}"
    assert not console_errors, f"console errors on {where}: {console_errors}"
    cut = page.evaluate("""() => [...document.querySelectorAll('[data-testid="stMetricValue"] *')]
        .filter(e => getComputedStyle(e).textOverflow === 'ellipsis' && e.scrollWidth > e.clientWidth + 1)
        .map(e => e.innerText)""")
    assert not cut, f"metric values cut off on {where}: {cut}"  # Streamlit ends what does not fit with "..."


def traces(page) -> list[dict]:
    """Type and number of drawn points of every Plotly trace on the page, once one is drawn: the
    Forecast page has no Plotly chart, so the first chart page also fetches Plotly's JavaScript."""
    page.wait_for_function("() => [...document.querySelectorAll('.js-plotly-plot')].some(p => (p.data || []).length)",
                           timeout=30_000)
    return page.evaluate("""() => [...document.querySelectorAll('.js-plotly-plot')].flatMap(plot =>
        (plot.data || []).map((trace, i) => ({type: trace.type, name: trace.name || '',
            points: (trace.x || trace.z || []).length})))""")


def shoot(page, directory: Path, name: str) -> None:
    height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": 1400, "height": max(900, height + 40)})
    page.wait_for_timeout(500)
    page.screenshot(path=str(directory / f"{name}.png"), full_page=True)
    page.set_viewport_size({"width": 1400, "height": 900})


def test_every_page_in_a_browser(dashboard, tmp_path):
    from playwright.sync_api import sync_playwright

    shots = Path(os.environ.get("SENSEX_E2E_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    console_errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.on("console", lambda m: console_errors.append(f"{m.text} ({m.location.get('url')})")
                    if m.type == "error" else None)
            page.on("pageerror", lambda e: console_errors.append(str(e)))
            page.goto(dashboard, wait_until="networkidle")
            settle(page)

            # Forecast: the card is there on load, before any click.
            body = page.inner_text("body")
            assert "SYNTHETIC DATA" in body
            assert "No forecast for the next session: the stored data is stale" in body  # data ends 2021
            assert "days old" in body and "Mon 2022-01-03" in body
            assert_clean(page, "Forecast", console_errors)
            page.get_by_role("button", name="Run Prediction").click()
            settle(page)
            assert_clean(page, "Forecast after Run Prediction", console_errors)
            shoot(page, shots, "forecast")

            page.get_by_role("link", name="Market").click()
            settle(page)
            drawn = traces(page)
            candles = [t for t in drawn if t["type"] == "candlestick"]
            assert candles and candles[0]["points"] == 252, drawn
            assert {t["name"] for t in drawn} >= {"50-session average", "200-session average", "volume"}
            assert any(t["type"] == "treemap" for t in drawn)
            for span, sessions in (("6 months", 126), ("9 months", 189), ("12 months", 252)):
                page.get_by_role("radio", name=span).click()
                settle(page)
                candles = [t for t in traces(page) if t["type"] == "candlestick"]
                assert candles and candles[0]["points"] == sessions, span
            assert_clean(page, "Market", console_errors)
            shoot(page, shots, "market")

            page.get_by_role("link", name="Track record").click()
            settle(page)
            body = page.inner_text("body")
            assert "Model card" in body and "Production" in body
            drawn = traces(page)
            outcomes = [t for t in drawn if t["name"] in ("correct", "wrong")]
            assert sum(t["points"] for t in outcomes) == 33, drawn  # the month of live forecasts
            assert page.locator(".js-plotly-plot .scatterlayer .point").count() > 0  # drawn, not just data
            assert any(t["name"] == "live forecasts" for t in drawn)  # the reliability plot
            page.get_by_text("Not part of the track record").click()  # the expander
            settle(page)
            assert_clean(page, "Track record", console_errors)
            shoot(page, shots, "track_record")

            page.get_by_role("link", name="Explanations").click()
            settle(page)
            assert "Noise floor: 0.1 pp" in page.inner_text("body")
            assert any(t["type"] == "heatmap" for t in traces(page))
            page.get_by_role("button", name="Explain the latest forecast").click()
            settle(page)
            assert_clean(page, "Explanations", console_errors)
            shoot(page, shots, "explanations")

            page.get_by_role("link", name="Monitoring").click()
            settle(page)
            body = page.inner_text("body")
            assert "DEGRADED" in body and "Cache hit rate" in body and "Sessions behind" in body
            assert "Feature drift (PSI per family)" in body and "Live record (closed forecasts)" in body
            assert_clean(page, "Monitoring", console_errors)
            shoot(page, shots, "monitoring")

            page.get_by_role("link", name="Forecast").click()
            settle(page)
            assert_clean(page, "Forecast again", console_errors)
        finally:
            browser.close()
