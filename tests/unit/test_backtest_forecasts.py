"""Where the walk-forward keeps its per-session forecasts, and how the backtest finds them."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from sensex.backtest import forecasts
from sensex.core.errors import DataError


def fake_result(n: int = 30) -> tuple[dict, pd.DatetimeIndex]:
    sessions = pd.bdate_range("2021-01-01", periods=n + 1)
    rng = np.random.default_rng(0)
    return {"predictions": {"date": [str(d.date()) for d in sessions[:n]], "label": rng.integers(0, 2, n) * 1.0,
                            "fold": np.repeat([0, 1], n // 2), "convlstm": rng.uniform(0.4, 0.6, n),
                            "convlstm:no_call": rng.uniform(size=n) < 0.5, "logreg": rng.uniform(size=n)},
            "blocks": [{"block": ["2021-01-01", "2021-01-21"]}, {"block": ["2021-01-22", "2021-02-11"]}]}, sessions


def store(home, refit: int = 6) -> str:
    result, sessions = fake_result()
    summary = {"model": "convlstm", "mode": "close", "refit_months": refit, "run_id": "r1", "preset": "p",
               "start": "2021-01-01", "end": "2021-02-11"}
    return forecasts.store_walk_forward(home, "sensex", sessions, result, summary, {"content_hash": "abc"})


def test_forecasts_round_trip_with_their_run_and_folds(home):
    path = store(home)
    assert path.parent == home.home / "forecasts" / "walk_forward" and path.name == "sensex_close_refit6m.parquet"
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # the temporary file was renamed
    frame, meta = forecasts.read_walk_forward(home, "sensex", "close")
    result, sessions = fake_result()
    np.testing.assert_array_equal(frame["probability"], result["predictions"]["convlstm"])
    np.testing.assert_array_equal(frame["no_call"], result["predictions"]["convlstm:no_call"])
    assert list(frame["fold"]) == [0] * 15 + [1] * 15
    assert frame["block_start"].iloc[-1] == pd.Timestamp("2021-01-22")
    assert list(frame["target_date"]) == list(sessions[1:])  # the next stored session
    assert meta["run_id"] == "r1" and meta["refit_months"] == 6 and meta["content_hash"] == "abc"
    assert meta["file"] == str(path) and meta["source"] == "walk-forward"


def test_the_file_of_a_refit_period_or_the_last_written(home):
    six = store(home, 6)
    twelve = store(home, 12)
    os.utime(six, (1, 1))  # written before the 12-month one
    assert forecasts.read_walk_forward(home, "sensex", "close")[1]["file"] == str(twelve)
    assert forecasts.read_walk_forward(home, "sensex", "close", 6)[1]["file"] == str(six)
    with pytest.raises(DataError, match=r"refit every 3 months \(stored: refit every 12, 6 months\)"):
        forecasts.read_walk_forward(home, "sensex", "close", 3)
    with pytest.raises(DataError, match="sensex evaluate --walk-forward --mode preopen"):
        forecasts.read_walk_forward(home, "sensex", "preopen")
