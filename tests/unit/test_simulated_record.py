"""The simulated track record, on forecasts and closes the test writes: hit rate over calls only,
Brier beside always-UP whose P(UP) uses only the closes up to each session, per year."""

import numpy as np
import pandas as pd
import pytest

from sensex.monitoring.simulated_record import MIN_ROWS, simulated_record


def _market(n: int = 40):
    dates = pd.bdate_range("2020-12-01", periods=n + 1)
    closes = pd.Series(100 + np.cumsum(np.where(np.arange(n + 1) % 3 == 0, -1.0, 1.0)), index=dates)
    label = (closes.shift(-1) > closes).astype(float).iloc[:-1]  # UP when the next close is higher
    forecasts = pd.DataFrame({"date": dates[:-1], "probability": np.where(label.to_numpy() == 1, 0.7, 0.4),
                              "no_call": np.arange(n) % 5 == 0, "label": label.to_numpy()})
    return forecasts, closes


def test_hit_rate_counts_calls_only_and_brier_counts_every_forecast():
    forecasts, closes = _market()
    record = simulated_record(forecasts, closes)
    assert record["n"] == 40 and record["calls"] == 32 and record["abstentions"] == 8
    assert record["hit_rate"] == 1.0  # every call on the right side of 0.5
    y, p = forecasts["label"].to_numpy(), forecasts["probability"].to_numpy()
    assert record["brier"] == pytest.approx(np.mean((p - y) ** 2))
    assert record["always_up_hit_rate"] == pytest.approx(y.mean())
    assert [row["year"] for row in record["years"]] == [2020, 2021]
    assert sum(row["n"] for row in record["years"]) == 40
    assert record["first"] == "2020-12-01" and sum(b["n"] for b in record["reliability"]) == 40


def test_always_up_knows_only_the_closes_up_to_each_session():
    forecasts, closes = _market()
    record = simulated_record(forecasts, closes)
    later = closes.copy()
    later.iloc[-1] = 1e6  # the last close: after every forecast's session but the last one's target
    moved = simulated_record(forecasts, later)
    assert moved["always_up_brier"] == record["always_up_brier"]
    # By hand: P(UP) at session t is the share of UP closes among those up to t (0.5 before any).
    ups = (closes.diff() > 0).astype(float).iloc[1:].expanding().mean().reindex(closes.index).fillna(0.5)
    base = ups.reindex(pd.DatetimeIndex(forecasts["date"])).to_numpy()
    y = forecasts["label"].to_numpy()
    assert record["always_up_brier"] == pytest.approx(np.mean((base - y) ** 2))


def test_too_few_labelled_forecasts_say_so():
    forecasts, closes = _market()
    forecasts.loc[MIN_ROWS - 1:, "label"] = np.nan  # the newest sessions not labelled yet
    record = simulated_record(forecasts, closes)
    assert record["n"] == MIN_ROWS - 1 and "needs 20" in record["reason"]
