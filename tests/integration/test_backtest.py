"""`sensex backtest` on the synthetic market: a quick walk-forward stores its per-session forecasts,
the backtest trades them and logs an MLflow run; a registered version trades only after its
validation window."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.integration

WALK_FORWARD_CONFIG = ("model: {hidden: 4, projection: 4, dropout: 0.0}\n"
                       "train: {epochs: 1, patience: 1, max_train_windows: 200, valid_sessions: 60, batch_size: 32}\n")


def sensex_cli(home, *args, check=True):
    env = {**os.environ, "SENSEX_HOME": str(home), "SENSEX_LOG_LEVEL": "WARNING"}
    out = subprocess.run([sys.executable, "-m", "sensex", *args], capture_output=True, text=True, env=env, timeout=600)
    if check:
        assert out.returncode == 0, out.stderr
    return out


@pytest.fixture(scope="module")
def walked(tmp_path_factory, trained_home):
    """A copy of the trained home in which a two-block walk-forward has run."""
    import shutil

    root = tmp_path_factory.mktemp("backtest")
    home = root / "home"
    shutil.copytree(trained_home["settings"].home, home)
    config = root / "wf.yaml"
    config.write_text(WALK_FORWARD_CONFIG)
    out = sensex_cli(home, "evaluate", "--walk-forward", "--start", "2021-01-01", "--end", "2021-12-31",
                     "--preset", str(config), "--refit-months", "6", "--json")
    return {"home": home, "walk_forward": json.loads(out.stdout)}


def test_the_walk_forward_stores_each_sessions_out_of_sample_forecast(walked):
    from sensex.backtest.forecasts import read_file

    wf = walked["walk_forward"]
    frame, meta = read_file(walked["home"] / "forecasts" / "walk_forward" / "sensex_close_refit6m.parquet")
    assert wf["forecasts_file"].endswith("sensex_close_refit6m.parquet")
    assert len(frame) == wf["n"] and meta["run_id"] == wf["run_id"] and meta["refit_months"] == 6
    assert sorted(frame["fold"].unique()) == [0, 1]
    assert (frame["date"][frame["fold"] == 1] >= pd.Timestamp("2021-07-01")).all()
    assert frame["probability"].between(0, 1).all() and frame["no_call"].dtype == bool
    assert (frame["target_date"] > frame["date"]).all()


def test_backtest_of_the_walk_forward_reports_beside_buy_and_hold_and_logs_a_run(walked):
    from mlflow import MlflowClient

    from sensex.core.settings import load_settings

    out = sensex_cli(walked["home"], "backtest", "--walk-forward", "--json")
    result = json.loads(out.stdout)
    assert result["fills"] == "close" and "gap_not_tradable" not in result
    assert result["window"]["sessions"] == walked["walk_forward"]["n"]
    for name in ("strategy", "buy_and_hold", "always_long"):
        assert {"cagr", "sharpe", "sortino", "max_drawdown", "calmar", "hit_rate", "turnover", "trades",
                "costs"} <= set(result[name])
        assert result[name]["costs"]["rupees"] > 0
    difference = result["sharpe_difference"]
    assert difference["interval"][0] <= difference["value"] <= difference["interval"][1]
    assert result["source"]["run_id"] == walked["walk_forward"]["run_id"]

    settings = load_settings({"SENSEX_HOME": str(walked["home"])})
    client = MlflowClient(tracking_uri=settings.tracking_uri)
    run = client.get_run(result["run_id"])
    assert run.data.tags["evaluation"] == "backtest"
    assert run.data.tags["walk_forward_run_id"] == walked["walk_forward"]["run_id"]
    assert run.data.params["rule"] == "long_flat" and run.data.params["mode"] == "close"
    assert run.data.params["costs_sha256"] == result["costs_sha256"]
    assert run.data.params["window_start"] == result["window"]["start"]
    assert run.data.metrics["strategy_sharpe"] == pytest.approx(result["strategy"]["sharpe"])
    artifacts = {a.path for a in client.list_artifacts(result["run_id"])}
    assert {"equity_curve.csv", "equity_curve.png", "backtest.json"} <= artifacts
    curve = pd.read_csv(client.download_artifacts(result["run_id"], "equity_curve.csv"))
    assert len(curve) == result["window"]["sessions"]
    assert curve["strategy_equity"].iloc[-1] == pytest.approx(result["strategy"]["final_equity"])


def test_volatility_targeting_sizes_by_the_expected_move_stored_out_of_sample(walked):
    """The walk-forward refits the range forecast on each block and stores its expected move; a
    registered version's comes from its own range record. Sized positions follow 1 / move."""
    from sensex.backtest.forecasts import read_file

    frame, _ = read_file(walked["home"] / "forecasts" / "walk_forward" / "sensex_close_refit6m.parquet")
    move = frame["expected_move"].to_numpy()
    assert np.isfinite(move).all() and (move > 0).all() and (move < 0.1).all()  # a fraction, every session
    assert frame["expected_move"].nunique() > 50  # a forecast per session, not one figure
    for source in (["--walk-forward"], ["--version", "1"]):
        plain = json.loads(sensex_cli(walked["home"], "backtest", *source, "--zero-costs", "--json").stdout)
        sized = json.loads(sensex_cli(walked["home"], "backtest", *source, "--zero-costs", "--rule",
                                      "vol_target:0.1", "--json").stdout)
        assert sized["rule"] == "long_flat+vol_target:0.1" and sized["window"] == plain["window"]
        assert sized["strategy"]["final_equity"] != plain["strategy"]["final_equity"]


def test_zero_costs_and_a_window_without_forecasts(walked):
    zero = json.loads(sensex_cli(walked["home"], "backtest", "--zero-costs", "--rule", "long_short",
                                 "--start", "2021-07-01", "--json").stdout)
    assert zero["zero_costs"] and zero["strategy"]["costs"]["rupees"] == 0
    assert zero["window"]["start"] >= "2021-07-01"
    out = sensex_cli(walked["home"], "backtest", "--start", "2015-01-01", "--end", "2015-12-31", check=False)
    lines = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert out.returncode == 2 and len(lines) == 1 and "Traceback" not in out.stderr
    assert "No stored close-mode walk-forward forecasts from 2015-01-01" in lines[0]


def test_a_registered_version_trades_only_after_its_validation_window(walked, trained_home):
    segments = trained_home["train"]["segments"]
    result = json.loads(sensex_cli(walked["home"], "backtest", "--version", "1", "--json").stdout)
    assert result["source"]["version"] == "1" and result["window"]["start"] > segments["valid"][1]
    from mlflow import MlflowClient

    from sensex.core.settings import load_settings

    settings = load_settings({"SENSEX_HOME": str(walked["home"])})
    tags = MlflowClient(tracking_uri=settings.tracking_uri).get_run(result["run_id"]).data.tags
    assert tags["model_version"] == "1" and tags["model_run_id"] == trained_home["train"]["run_id"]
    out = sensex_cli(walked["home"], "backtest", "--version", "1", "--start", segments["valid"][0], check=False)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert f"overlaps version 1's validation rows ({segments['valid'][0]}..{segments['valid'][1]})" in out.stderr
    out = sensex_cli(walked["home"], "backtest", "--version", "1", "--start", segments["train"][0], check=False)
    assert "overlaps version 1's training rows" in out.stderr


def test_preopen_trades_the_open_and_reports_the_gap_as_not_tradable(walked):
    sensex_cli(walked["home"], "evaluate", "--walk-forward", "--mode", "preopen", "--start", "2021-07-01",
               "--end", "2021-12-31", "--preset", str(walked["home"].parent / "wf.yaml"), "--refit-months", "6",
               "--json")
    result = json.loads(sensex_cli(walked["home"], "backtest", "--mode", "preopen", "--json").stdout)
    assert result["mode"] == "preopen" and result["fills"] == "open"
    assert result["gap_not_tradable"]["label"].startswith("not tradable")
    assert result["source"]["file"].endswith("sensex_preopen_refit6m.parquet")
    # the close-mode forecasts are still there, untouched
    assert json.loads(sensex_cli(walked["home"], "backtest", "--json").stdout)["mode"] == "close"
