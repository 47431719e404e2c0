"""The dashboard in a real browser: Debian's Chromium driven by Playwright, app started as users start it."""

import os
import shutil
import subprocess
import sys
import time

import httpx
import pytest
from conftest import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"



@pytest.fixture
def dashboard(trained_home):
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (apt-get install chromium); .ci/run installs it")
    port = free_port()
    env = {**os.environ, "SENSEX_HOME": str(trained_home["settings"].home), "STREAMLIT_SERVER_PORT": str(port)}
    process = subprocess.Popen([sys.executable, "-m", "sensex", "app"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/_stcore/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.3)
    else:
        process.terminate()
        pytest.fail("the dashboard did not start within 60 s")
    yield url
    process.terminate()
    process.wait(timeout=30)


def test_run_prediction_in_a_browser(dashboard, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(dashboard, wait_until="networkidle")
            page.get_by_text("SYNTHETIC DATA").first.wait_for(timeout=60_000)
            page.get_by_role("button", name="Run Prediction").click()
            page.get_by_text("Target date").wait_for(timeout=60_000)
            body = page.inner_text("body")
            assert "2022-01-03" in body  # the next BSE session after the fixture's last day
            assert ("UP" in body) or ("DOWN" in body)
            page.screenshot(path=str(tmp_path / "forecast.png"), full_page=True)
        finally:
            browser.close()
