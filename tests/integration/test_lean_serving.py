"""The serving process lives in 150 MB because its forecast path never imports pandas,
pyarrow or TA-Lib. The latest session's inputs are prepared where the store or the production
model changes (the registry's promotion, `sensex data update`) and read from `window_cache`;
the calendar, the market clock, the universe and the store's metadata answer without pandas.
Each test runs the API in a fresh interpreter, as a user's server would start.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from sensex.core.settings import get_settings
from sensex.data import store

HEAVY = ("pandas", "pyarrow", "talib", "exchange_calendars", "mlflow", "torch", "sklearn", "scipy", "arch", "ray",
         "optuna")

SERVE = f"""
import json, sys
from fastapi.testclient import TestClient
from sensex.interfaces.api import create_app

with TestClient(create_app()) as client:
    answers = [client.get("/health"), client.post("/predict"), client.post("/predict", json={{}}),
               client.get("/version"), client.get("/model")]
    forecast = answers[1].json()
print(json.dumps({{"statuses": [a.status_code for a in answers], "health": answers[0].json()["status"],
                  "as_of": forecast.get("as_of"), "target_date": forecast.get("target_date"),
                  "expected_move": forecast.get("expected_move"),
                  "heavy": [m for m in {HEAVY!r} if m in sys.modules]}}))
"""


def serve_once(home) -> dict:
    env = {**os.environ, "SENSEX_HOME": str(home)}
    # A user's home holds BSE's session list from its first `sensex data update`; the fixtures
    # built theirs under the test process's home. Building it needs exchange_calendars, once.
    subprocess.run([sys.executable, "-c", "from sensex.market import calendar; calendar.recorded_end_day()"], env=env,
                   check=True, timeout=120)
    done = subprocess.run([sys.executable, "-c", SERVE], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def windows(settings) -> list[str]:
    return sorted(p.name for p in (settings.cache_dir / "windows").glob("*.npz"))


def test_the_promotion_prepared_the_window_and_the_server_needs_no_pandas(own_home):
    assert windows(own_home), "the registry's promotion should have prepared the latest window"
    seen = serve_once(own_home.home)
    assert seen["statuses"] == [200] * 5
    assert seen["heavy"] == []
    # The range forecast comes from the same bundle and the kept inputs, in numpy: no pandas, no arch.
    assert seen["expected_move"]["range_low"] < seen["expected_move"]["range_high"]
    meta = store.read_meta(own_home.store_dir)
    assert seen["as_of"] == meta["last_date"]
    assert seen["target_date"] > seen["as_of"]


def test_a_data_update_prepares_the_new_sessions_window(own_home, monkeypatch, capsys):
    from sensex.interfaces import cli

    before = windows(own_home)
    old_last = store.read_meta(own_home.store_dir)["last_date"]
    monkeypatch.setenv("SENSEX_HOME", str(own_home.home))
    get_settings.cache_clear()
    assert cli.run(["data", "update", "--source", "synthetic", "--end", "2022-02-28", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rows_added"] > 0
    after = windows(own_home)
    assert after != before and len(after) == len(before)  # the new data hash's window replaced the old one
    seen = serve_once(own_home.home)
    assert seen["statuses"] == [200] * 5 and seen["heavy"] == []
    assert seen["as_of"] > old_last


def test_without_a_prepared_window_the_server_computes_it_and_says_nothing_is_wrong(own_home):
    for path in (own_home.cache_dir / "windows").glob("*.npz"):
        path.unlink()
    seen = serve_once(own_home.home)
    assert seen["statuses"] == [200] * 5
    assert seen["heavy"] == []  # computed in the API's worker process: the API process stays lean
    assert windows(own_home)  # and kept for the next start
    assert serve_once(own_home.home)["heavy"] == []


def test_a_failure_to_prepare_the_window_never_fails_the_promotion_or_update(own_home, monkeypatch, caplog):
    from sensex.serving import latest_windows, model_server

    assert latest_windows.prepare_latest_windows(own_home) == ["close"]
    monkeypatch.setattr(model_server.ModelServer, "_latest_inputs",
                        lambda *a, **k: (_ for _ in ()).throw(RuntimeError("disk on fire")))
    assert latest_windows.prepare_latest_windows(own_home) == []
    assert "servers compute it themselves" in caplog.text and "disk on fire" in caplog.text
