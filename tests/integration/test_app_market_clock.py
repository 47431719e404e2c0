"""The dashboard and the market clock (Streamlit AppTest): the status chip on every page, the
intraday SENSEX during the session from recorded frames, forecasts that say what time it is."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime

import pytest
from app_pages import clear_caches, run_app, texts, use_home, visit
from intraday_frames import Recorded, yf_frame

from sensex.core.settings import load_settings
from sensex.data import store
from sensex.data.sources import synthetic, yahoo
from sensex.market import calendar

pytestmark = pytest.mark.integration
PAGES = ["views/market.py", "views/track_record.py", "views/explanations.py", "views/monitoring.py"]


def at_ist(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=calendar.IST)


@pytest.fixture(autouse=True)
def _fresh(monkeypatch):
    """Empty caches, and a network that refuses to be asked unless a test plays frames back."""
    def no_network(*args, **kwargs):
        raise AssertionError("the network was asked")

    monkeypatch.setattr(yahoo, "is_reachable", no_network)
    monkeypatch.setattr(yahoo, "default_downloader", no_network)
    clear_caches()
    yield
    clear_caches()


def freeze(monkeypatch, text: str) -> None:
    monkeypatch.setattr(calendar, "now_ist", lambda: at_ist(text))


def test_the_status_chip_is_on_every_page(trained_home, monkeypatch):
    use_home(monkeypatch, trained_home["settings"].home)
    freeze(monkeypatch, "2022-01-03 10:00")
    at = run_app()
    chip = ":green-badge[:material/radio_button_checked: BSE open · closes in 5 h 30 min (15:30 IST)]"
    assert chip in texts(at.markdown)
    for page in PAGES:
        assert chip in texts(visit(at, page).markdown), page


@pytest.mark.parametrize(("instant", "chip"), [
    ("2022-01-01 11:00", ":gray-badge[:material/schedule: Weekend, BSE closed · opens in 1 d 22 h (Mon 09:15 IST)]"),
    ("2022-01-03 09:05", ":orange-badge[:material/hourglass_top: BSE pre-open auction · opens in 10 min (09:15 IST)]"),
    ("2022-01-26 12:00", ":violet-badge[:material/schedule: BSE holiday · opens in 21 h 15 min (Thu 09:15 IST)]"),
])
def test_the_chip_says_closed_pre_open_and_holiday(trained_home, monkeypatch, instant, chip):
    use_home(monkeypatch, trained_home["settings"].home)
    freeze(monkeypatch, instant)
    assert chip in texts(visit(run_app(), "views/market.py").markdown)


def test_forecast_during_the_session_says_it_targets_today(trained_home, monkeypatch):
    use_home(monkeypatch, trained_home["settings"].home)
    freeze(monkeypatch, "2022-01-03 12:00")
    at = run_app()
    assert "targets today's close (Mon 2022-01-03) and the session is under way" in texts(at.info)
    assert "target session under way" in texts(at.markdown)
    assert "Pre-open forecast" not in texts(at.subheader)


def test_before_the_open_without_a_preopen_model_the_close_forecast_stands_alone(trained_home, monkeypatch):
    use_home(monkeypatch, trained_home["settings"].home)
    freeze(monkeypatch, "2022-01-03 08:00")  # the S&P 500 closed at 02:30 IST: pre-open would come first
    at = run_app()
    assert "Pre-open forecast" not in texts(at.subheader)  # this home has no pre-open model
    assert "This forecast targets the close of today, which opens at 09:15 IST." in texts(at.caption)
    assert not at.error


def test_before_the_open_without_a_preopen_model_the_forecast_page_loads_neither_mlflow_nor_nyse(trained_home):
    """Asking MLflow whether a pre-open model exists, and NYSE's calendar whether the S&P 500 has
    closed, cost the first render 10 s and 200 MB: a file read says there is no such model."""
    code = ("import json, sys; from datetime import datetime; from importlib.util import find_spec\n"
            "from sensex.market import calendar\n"
            "calendar.now_ist = lambda: datetime(2022, 1, 3, 8, 0, tzinfo=calendar.IST)\n"
            "from streamlit.testing.v1 import AppTest\n"
            "at = AppTest.from_file(find_spec('sensex.interfaces.app.main').origin, default_timeout=90).run()\n"
            "print(json.dumps({'errors': [e.value for e in at.exception] + [e.value for e in at.error],"
            " 'card': any(m.label == 'Target session' for m in at.metric),"
            " 'loaded': [m for m in ('mlflow', 'exchange_calendars', 'sklearn', 'scipy', 'torch') if m in sys.modules]}))")
    env = {**os.environ, "SENSEX_HOME": str(trained_home["settings"].home), "SENSEX_LOG_LEVEL": "WARNING"}
    for _ in range(2):  # the first process in a home may write BSE's session file (`sensex.market.calendar`)
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"errors": [], "card": True, "loaded": []}


def test_synthetic_market_page_has_no_live_quote_and_says_why(trained_home, monkeypatch):
    use_home(monkeypatch, trained_home["settings"].home)
    freeze(monkeypatch, "2022-01-03 12:00")
    at = visit(run_app(), "views/market.py")
    assert "No live quote: Live quotes are off because the stored prices are the SYNTHETIC market" in texts(at.caption)
    assert len(at.get("plotly_chart")) == 3  # daily candles, treemap, sectors: no intraday chart


@pytest.fixture
def real_home(tmp_path, universe):
    """A store labelled as Yahoo's (synthetic prices standing in for recorded real ones), no model."""
    settings = load_settings({"SENSEX_HOME": str(tmp_path / "home")})
    store.write(settings.store_dir, synthetic.generate(universe, "2021-06-01", "2021-12-31"), "yfinance")
    return settings


def test_market_page_draws_the_intraday_sensex_during_the_session(real_home, monkeypatch):
    use_home(monkeypatch, real_home.home)
    freeze(monkeypatch, "2022-01-03 11:00")
    recorded = Recorded(yf_frame({"2021-12-31": 3, "2022-01-03": 20}, {}, drift=0.0005))
    monkeypatch.setattr(yahoo, "is_reachable", lambda *a, **k: True)
    monkeypatch.setattr(yahoo, "default_downloader", recorded)
    at = visit(run_app(), "views/market.py")
    assert "SENSEX today, live" in texts(at.subheader)
    shown = {m.label: m.value for m in at.metric}
    assert "SENSEX at 10:50 IST" in shown
    assert "20 bars of 5m from Yahoo Finance" in texts(at.caption)
    assert len(at.get("plotly_chart")) == 4  # intraday, then daily candles, treemap, sectors
    visit(at, "views/track_record.py")
    visit(at, "views/market.py")
    assert len(recorded.calls) == 1  # within the price TTL the live quote is not fetched again
    assert store.read(real_home.store_dir)["date"].max().date().isoformat() == "2021-12-31"


def test_market_page_after_the_close_shows_the_candles_first(real_home, monkeypatch):
    use_home(monkeypatch, real_home.home)
    freeze(monkeypatch, "2022-01-03 17:00")
    monkeypatch.setattr(yahoo, "is_reachable", lambda *a, **k: False)
    at = visit(run_app(), "views/market.py")
    assert "SENSEX today, live" not in texts(at.subheader)
    assert "No live quote: Yahoo Finance is unreachable" in texts(at.caption)
    assert len(at.get("plotly_chart")) == 3
