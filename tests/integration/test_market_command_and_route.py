"""`sensex market [--json]`, `GET /market/clock` and the forecast's clock fields, end to end in
process, at a frozen clock and with recorded intraday frames (never the network)."""

from __future__ import annotations

import json
from datetime import datetime

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from intraday_frames import Recorded, yf_frame

from sensex.core.cache import get_cache
from sensex.core.settings import get_settings, load_settings
from sensex.data import store
from sensex.data.sources import yahoo
from sensex.interfaces import cli
from sensex.interfaces.api import create_app
from sensex.market import calendar

pytestmark = pytest.mark.integration
# The trained fixture's data ends on Fri 2021-12-31; Mon 2022-01-03 at noon the session is under way.
MONDAY_NOON = datetime(2022, 1, 3, 12, 0, tzinfo=calendar.IST)


@pytest.fixture(autouse=True)
def _frozen(monkeypatch):
    """A fixed clock, an empty shared cache, and a network that refuses to be asked."""
    monkeypatch.setattr(calendar, "now_ist", lambda: MONDAY_NOON)

    def no_network(*args, **kwargs):
        raise AssertionError("the network was asked")

    monkeypatch.setattr(yahoo, "is_reachable", no_network)
    monkeypatch.setattr(yahoo, "default_downloader", no_network)
    get_cache().clear()
    yield
    get_cache().clear()


@pytest.fixture
def real_home(tmp_path, monkeypatch):
    """A home whose store holds two real-looking SENSEX closes (source yfinance), set as SENSEX_HOME."""
    settings = load_settings({"SENSEX_HOME": str(tmp_path / "home")})
    rows = pd.DataFrame({"date": pd.to_datetime(["2021-12-30", "2021-12-31"]), "symbol": "SENSEX",
                         "open": 58000.0, "high": 58500.0, "low": 57500.0, "close": [57800.0, 58250.0],
                         "adj_close": [57800.0, 58250.0], "volume": 0.0})
    store.write(settings.store_dir, rows, "yfinance")
    monkeypatch.setenv("SENSEX_HOME", str(settings.home))
    get_settings.cache_clear()
    return settings


def online(monkeypatch, frame) -> Recorded:
    recorded = Recorded(frame)
    monkeypatch.setattr(yahoo, "is_reachable", lambda *a, **k: True)
    monkeypatch.setattr(yahoo, "default_downloader", recorded)
    return recorded


def test_sensex_market_json_offline(capsys, real_home, monkeypatch):
    monkeypatch.setattr(yahoo, "is_reachable", lambda *a, **k: False)
    assert cli.run(["market", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    clock = out["clock"]
    assert clock["state"] == "open" and clock["now"] == "2022-01-03T12:00:00+05:30"
    assert clock["session"] == {"date": "2022-01-03", "open": "2022-01-03T09:15:00+05:30",
                                "close": "2022-01-03T15:30:00+05:30"}
    assert clock["next_open"] == "2022-01-04T09:15:00+05:30"
    assert clock["last_completed"]["date"] == "2021-12-31"
    assert out["live"] is None and out["live_reason"].startswith("Yahoo Finance is unreachable")
    assert out["last_close"]["date"] == "2021-12-31" and out["last_close"]["level"] == 58250.0


def test_sensex_market_for_people_online(capsys, real_home, monkeypatch):
    online(monkeypatch, yf_frame({"2022-01-03": 33}, {"^BSESN": 58300.0}, drift=0.0))
    assert cli.run(["market"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("BSE is open: closes in 3 h 30 min (Mon 2022-01-03 15:30 IST).")
    assert "SENSEX live 58,300.00 +50.00 (+0.09%) as of 2022-01-03T11:55:00+05:30 (33 bars of 5m)" in out
    assert "Last stored close: 58,250.00 +450.00 (+0.78%) on 2021-12-31." in out


def test_get_market_clock_serves_the_live_quote_once_per_ttl(real_home, monkeypatch):
    recorded = online(monkeypatch, yf_frame({"2021-12-31": 3, "2022-01-03": 10}, {"^BSESN": 58300.0}, drift=0.0))
    with TestClient(create_app(real_home)) as client:
        body = client.get("/market/clock").json()
        again = client.get("/market/clock").json()
    assert len(recorded.calls) == 1  # the second answer came from the 5-minute cache
    live = body["live"]
    assert body["live_reason"] is None and again["live"] == live
    assert live["level"] == 58300.0 and live["change"] == 50.0  # against the stored close, not a bar
    assert live["as_of"] == "2022-01-03T10:00:00+05:30"
    assert len(live["bars"]) == 10 and live["breadth"]["advancing"] == 0  # members flat on the day
    assert body["clock"]["state"] == "open"
    assert "/market/clock" in client.app.openapi()["paths"]
    assert store.read(real_home.store_dir)["date"].max() == pd.Timestamp("2021-12-31")  # the store is untouched


def test_synthetic_home_route_and_forecast_know_the_clock(trained_home):
    with TestClient(create_app(trained_home["settings"])) as client:
        body = client.get("/market/clock").json()
        assert body["live"] is None and "SYNTHETIC" in body["live_reason"]
        assert body["last_close"]["synthetic"] is True
        forecast = client.post("/predict").json()
    assert forecast["target_date"] == "2022-01-03"
    assert forecast["issued_at"] == "2022-01-03T12:00:00+05:30"
    assert forecast["clock_state"] == "open" and forecast["target_status"] == "under_way"
    assert "targets today's close (Mon 2022-01-03) and the session is under way" in forecast["clock_note"]
    assert {"direction", "probability", "interval", "no_call", "skill", "as_of"} <= set(forecast)


def test_predict_json_has_the_clock_fields(capsys, trained_home, monkeypatch):
    monkeypatch.setenv("SENSEX_HOME", str(trained_home["settings"].home))
    get_settings.cache_clear()
    monkeypatch.setattr(calendar, "now_ist", lambda: datetime(2022, 1, 3, 16, 0, tzinfo=calendar.IST))
    assert cli.run(["predict", "--json"]) == 0
    forecast = json.loads(capsys.readouterr().out)
    assert forecast["clock_state"] == "closed" and forecast["target_status"] == "closed"
    assert "run `sensex data update`" in forecast["clock_note"]
