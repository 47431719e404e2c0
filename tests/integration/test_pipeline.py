"""data update -> train -> registry setup -> predict, in a temporary SENSEX_HOME."""

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from sensex.core import jsonlog
from sensex.core.cache import get_cache
from sensex.data import store
from sensex.serving.model_server import ModelServer

pytestmark = pytest.mark.integration


def sensex_cli(home, *args, check=True):
    env = {**os.environ, "SENSEX_HOME": str(home), "SENSEX_LOG_LEVEL": "WARNING"}
    out = subprocess.run([sys.executable, "-m", "sensex", *args], capture_output=True, text=True, env=env, timeout=300)
    if check:
        assert out.returncode == 0, out.stderr
    return out


def test_training_logs_metrics_beside_baselines(trained_home):
    result = trained_home["train"]
    for key in ("test_accuracy", "test_auc", "test_brier", "test_f1"):
        assert 0.0 <= result["metrics"][key] <= 1.0
    assert set(result["baselines"]) >= {"always_up", "prev_day", "logreg"}
    assert result["onnx_parity_max_abs"] < 1e-5
    assert result["synthetic"] is True


def test_promoted_version_is_production(trained_home):
    assert trained_home["promoted"]["stage"] == "Production"
    assert "production" in trained_home["promoted"]["aliases"]


def test_predict_returns_the_forecast_contract(trained_home):
    settings = trained_home["settings"]
    get_cache(settings).clear()  # the shared home's forecast may be cached by an earlier test: compute and log it
    forecast = ModelServer(settings).predict()
    assert forecast["direction"] in ("UP", "DOWN")
    assert 0.0 <= forecast["probability"] <= 1.0
    assert (forecast["direction"] == "UP") == (forecast["probability"] >= 0.5)
    assert forecast["confidence"] in ("Low", "Medium", "High", "no skill shown")
    low, high = forecast["interval"]
    assert 0.0 <= low <= forecast["probability"] <= high <= 1.0
    assert forecast["no_call"] == (low <= 0.5 <= high)
    assert forecast["skill"] in ("shown", "none")
    if forecast["skill"] == "none":
        assert forecast["confidence"] == "no skill shown" and "coin" in forecast["note"]
    assert forecast["risk"] in ("Low", "Medium", "High") and forecast["realized_volatility"] > 0
    assert forecast["realized_risk"] in ("Low", "Medium", "High") and 0 <= forecast["risk_percentile"] <= 100
    move = forecast["expected_move"]
    assert move["pct"] > 0 and move["range_low"] < move["last_close"] < move["range_high"]
    assert forecast["as_of"] == "2021-12-31"
    assert forecast["target_date"] == "2022-01-03"  # the next BSE session, not the next day
    assert forecast["data_source"] == "synthetic" and forecast["synthetic"] is True
    logged = jsonlog.read(settings.logs_dir / jsonlog.PREDICTION_LOG)
    assert logged[-1]["prediction"]["direction"] == forecast["direction"]


def test_forecast_from_an_earlier_session_gets_its_realized_outcome(trained_home):
    server = ModelServer(trained_home["settings"])
    forecast = server.predict(as_of="2021-12-15")
    assert forecast["as_of"] == "2021-12-15" and forecast["target_date"] == "2021-12-16"
    history = server.prediction_history(10)
    row = next(h for h in history if h["as_of"] == "2021-12-15")
    assert row["realized"] in ("UP", "DOWN") and row["correct"] in (True, False)


def test_cli_end_to_end_with_json(tmp_path, tiny_config):
    home = tmp_path / "home"
    update = json.loads(sensex_cli(home, "data", "update", "--source", "synthetic", "--start", "2018-06-01", "--end", "2021-12-31", "--json").stdout)
    assert update["source"] == "synthetic" and update["rows_added"] > 0
    assert update["quality"]["statistics"]["valid_symbols"] == 30
    status = json.loads(sensex_cli(home, "data", "status", "--json").stdout)
    assert status["readiness"] is True and status["statistics"]["total_symbols"] == 30
    trained = json.loads(sensex_cli(home, "train", "--preset", str(tiny_config), "--json").stdout)
    assert trained["run_id"] and "test_auc" in trained["metrics"] and "logreg" in trained["baselines"]
    setup = json.loads(sensex_cli(home, "registry", "setup", "--preset", str(tiny_config), "--json").stdout)
    assert setup["version"] == "1" and setup["stage"] == "Production"
    forecast = json.loads(sensex_cli(home, "predict", "--json").stdout)
    for key in ("direction", "probability", "confidence", "risk", "model_version", "as_of", "target_date", "data_source",
                "interval", "no_call", "skill", "expected_move", "realized_risk"):
        assert key in forecast
    move = forecast["expected_move"]
    assert set(move) >= {"pct", "points", "interval_pct", "range_low", "range_high"}
    assert move["pct"] > 0 and move["range_low"] < move["last_close"] < move["range_high"]
    human = sensex_cli(home, "predict").stdout
    assert f"Expected move ±{move['pct']:.2f}%" in human and "never which way" in human
    evaluated = json.loads(sensex_cli(home, "evaluate", "--run-id", trained["run_id"], "--start", "2021-07-01", "--end", "2021-12-31", "--json").stdout)
    assert evaluated["n"] > 100 and "auc" in evaluated["metrics"] and "always_up" in evaluated["baselines"]
    scored = evaluated["range"]
    assert set(scored["baselines"]) == {"har", "ewma", "garch", "mean5", "mean22", "yesterday"}
    assert all(b["qlike"] > 0 for b in scored["baselines"].values()) and scored["metrics"]["qlike"] > 0
    assert 0 < scored["coverage_80"] < scored["coverage_90"] <= 1 and scored["n"] > 100
    assert trained["range"]["metrics"]["qlike"] > 0 and "ewma" in trained["range"]["baselines"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["data", "update", "--source", "bloomberg"], "Unknown source"),
        (["data", "update", "--source", "csv"], "--csv-dir"),
        (["predict"], "sensex train"),
        (["data", "status"], "sensex data update"),
    ],
)
def test_bad_input_gets_one_sentence_and_nonzero_exit(tmp_path, args, message):
    out = sensex_cli(tmp_path / "empty-home", *args, check=False)
    assert out.returncode != 0
    assert message in out.stderr
    assert "Traceback" not in out.stderr
    lines = [line for line in out.stderr.strip().splitlines() if line.startswith("error:")]
    assert len(lines) == 1


def test_predict_without_enough_data_says_what_to_do(trained_home):
    from sensex.core.errors import DataError

    server = ModelServer(trained_home["settings"])
    with pytest.raises(DataError, match="sessions"):
        server.predict(as_of=str(pd.Timestamp("2018-07-02").date()))


def test_walk_forward_cli_reports_pooled_metrics_and_registers_nothing(trained_home, tmp_path):
    from sensex.serving import ModelRegistry

    config = tmp_path / "wf.yaml"
    config.write_text("model: {hidden: 4, projection: 4, dropout: 0.0}\n"
                      "train: {epochs: 1, patience: 1, max_train_windows: 200, valid_sessions: 60, batch_size: 32}\n")
    home = trained_home["settings"].home
    out = sensex_cli(home, "evaluate", "--walk-forward", "--start", "2021-01-01", "--end", "2021-12-31",
                     "--preset", str(config), "--refit-months", "6", "--json")
    result = json.loads(out.stdout)
    assert [b["block"][0] for b in result["blocks"]] == ["2021-01-01", "2021-07-01"]
    assert result["n"] == sum(b["n"] for b in result["blocks"]) and result["synthetic"] is True
    assert {"always_up", "prev_day", "logreg", "gbm"} <= set(result["baselines"])
    # The range forecast refit on the same blocks, reported the same way.
    scored = result["range"]
    assert [b["block"][0] for b in scored["blocks"]] == ["2021-01-01", "2021-07-01"]
    assert {"har", "ewma", "garch", "mean5", "mean22", "yesterday"} <= set(scored["baselines"])
    assert 0 < scored["coverage_80"] < scored["coverage_90"] <= 1 and scored["metrics"]["qlike"] > 0
    versions = ModelRegistry(trained_home["settings"]).list_all_versions()
    assert all(v["run_id"] != result["run_id"] for v in versions)


def test_the_track_record_sees_new_closes_once_the_store_changes(home, universe):
    """The index closes behind `prediction_history` are read once per store content: a session
    stored after the first look gives its forecast a realized outcome on the next look."""
    from sensex.data.ingest import update_store

    update_store(home, universe, "synthetic", start="2021-01-01", end="2021-06-30", yahoo_reachable=lambda: False)
    last = (store.read_meta(home.store_dir) or {})["last_date"]
    jsonlog.append(home.logs_dir / jsonlog.PREDICTION_LOG, {
        "prediction": {"direction": "UP"}, "model_version": "1", "mode": "close", "as_of": last,
        "target_date": "2021-07-01", "back_dated": False})
    server = ModelServer(home, universe)
    assert server.prediction_history(5)[0]["realized"] is None
    assert server.prediction_history(5)[0]["realized"] is None  # the held closes, same content
    update_store(home, universe, "synthetic", start="2021-01-01", end="2021-07-09", yahoo_reachable=lambda: False)
    row = server.prediction_history(5)[0]
    assert row["realized"] in ("UP", "DOWN") and row["correct"] == (row["realized"] == "UP")
