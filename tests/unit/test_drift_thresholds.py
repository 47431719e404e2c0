"""Feature drift judged like with like: a window after training against the PSI that windows of
the same length inside training reach, so volatility clustering alone never calls for a retrain."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pandas as pd
import pytest

from sensex.data.sources import synthetic
from sensex.features.dataset import prepare
from sensex.features.indicators import registry_table
from sensex.monitoring import drift

TRAIN = ("2012-01-02", "2019-06-28")


@pytest.fixture(scope="module")
def panel(universe):
    return prepare(synthetic.generate(universe, "2011-01-03", "2019-12-31"), universe)


def served(train=TRAIN):
    return SimpleNamespace(meta=SimpleNamespace(segments={"train": list(train)}, feature_registry=registry_table()))


def ending(panel, day: str):
    keep = panel.dates <= pd.Timestamp(day)
    return dataclasses.replace(panel, dates=panel.dates[keep], stock=panel.stock[keep], market=panel.market[keep],
                               available=panel.available[keep], label=panel.label[keep])


def test_a_model_judged_right_after_training_is_ok(panel):
    report = drift.features(served(), ending(panel, "2019-10-31"), 60)
    assert report["judged"] is True and report["severity"] == "ok", report["reason"]
    market = next(f for f in report["families"] if f["family"] == "market context")
    # The textbook 0.25 would call this a retrain: 60-session windows inside training reach more.
    assert market["psi"] > drift.PSI_RETRAIN and market["retrain_at"] > market["psi"]


def test_a_real_shift_after_training_still_calls_for_a_retrain(panel):
    shifted = ending(panel, "2019-10-31")
    after = shifted.dates > pd.Timestamp(TRAIN[1])
    stock, market = shifted.stock.copy(), shifted.market.copy()
    stock[after] = stock[after] * 3 + 1  # every indicator leaves the range it had in training
    market[after] = market[after] * 3 + 1
    report = drift.features(served(), dataclasses.replace(shifted, stock=stock, market=market), 60)
    assert report["severity"] == "retrain"


def test_thresholds_never_fall_below_the_usual_reading(panel):
    report = drift.features(served(), ending(panel, "2019-10-31"), 60)
    assert all(f["watch_at"] >= drift.PSI_WATCH and f["retrain_at"] >= drift.PSI_RETRAIN for f in report["families"])
    assert all(f["retrain_at"] >= f["watch_at"] for f in report["families"])


def test_too_few_sessions_after_training_is_not_judged(panel):
    report = drift.features(served(), ending(panel, "2019-07-10"), 60)
    assert report["judged"] is False and report["severity"] == drift.NOT_JUDGED  # never `ok`: no verdict was reached
    assert "feature drift needs" in report["reason"] and report["families"] == []


def unjudged(reason: str) -> dict:
    return {"severity": drift.NOT_JUDGED, "judged": False, "reason": reason}


def test_a_report_with_nothing_judged_is_not_judged_never_ok():
    served_model = SimpleNamespace(meta=SimpleNamespace(mode="close"))
    parts = {"performance": unjudged("Only 3 sessions."), "features": unjudged("Only 3 sessions.")}
    report = drift.assemble({"version": "1"}, served_model, drift.PromotionConfig(), parts, unjudged("Only 2 forecasts."))
    assert report["severity"] == drift.NOT_JUDGED
    assert report["reason"].startswith("Nothing could be judged yet: performance, features, live need more sessions")
    assert report["recommendation"] == drift.RECOMMENDATION[drift.NOT_JUDGED] != drift.RECOMMENDATION["ok"]
    assert report["drift_detected"] is False
    # One judged part gives the verdict; the others are named as not judged, not counted as fine.
    parts["features"] = {"severity": "ok", "judged": True, "reason": "Largest shift: momentum PSI 0.05."}
    report = drift.assemble({"version": "1"}, served_model, drift.PromotionConfig(), parts, unjudged("Only 2."))
    assert report["severity"] == "ok"
    assert report["reason"] == "No judged part shows drift; not judged yet: performance, live."
