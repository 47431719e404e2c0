"""The forecast's interval, no-call flag, skill, confidence and risk words follow the bundle's evidence."""

import dataclasses

import numpy as np
import pytest

from sensex.models.bundle import BundleMeta, NetworkConfig
from sensex.models.calibrate import Calibration
from sensex.models.uncertainty import NO_SKILL, card_skill, judge_skill
from sensex.serving.assessment import assess

SHOWN = judge_skill(0.58, [0.54, 0.62], 0.05).to_dict()
NONE = judge_skill(0.52, [0.48, 0.56], 0.05).to_dict()
COLLAPSED = judge_skill(0.58, [0.54, 0.62], 0.00001).to_dict()


def _meta(uncertainty: dict) -> BundleMeta:
    return BundleMeta(
        kind="convlstm", network=NetworkConfig(n_channels=5, n_stocks=3), window=60, warmup=250,
        symbols=["A", "B", "C"], index_symbol="SENSEX", stock_features=["f"], market_features=["m"],
        calibration=Calibration("platt", 1.0, 0.0), segments={}, data={}, config={},
        baselines={"fit_start": "2010-01-01", "fit_end": "2017-12-29"}, uncertainty=uncertainty)


@pytest.mark.parametrize("probability, skill, no_call, confidence", [
    (0.70, SHOWN, False, "High"),
    (0.60, SHOWN, False, "Medium"),
    (0.53, SHOWN, True, "Low"),
    (0.70, NONE, False, NO_SKILL),  # however far from 50%, no skill shown is never "Medium"
    (0.576, COLLAPSED, False, NO_SKILL),
])
def test_words_follow_the_evidence(probability, skill, no_call, confidence):
    meta = _meta({"half_width": 0.05, "skill": skill, "volatility_bands": [0.12, 0.2]})
    out = assess(meta, probability, None, 0.25)
    assert out["interval"] == [round(probability - 0.05, 4), round(probability + 0.05, 4)]
    assert out["no_call"] is no_call and out["confidence"] == confidence
    assert out["skill"] == skill["skill"] and out["risk"] == "High"
    assert ("coin" in out["note"]) is (skill["skill"] == "none")


def test_the_ensemble_spread_widens_the_interval_into_a_no_call():
    meta = _meta({"half_width": 0.05, "skill": SHOWN})
    out = assess(meta, 0.60, np.array([[0.48, 0.61]]), None)
    assert out["interval"] == [0.48, 0.65] and out["no_call"] is True and out["risk"] == "unknown"


def test_a_bundle_without_an_uncertainty_record_makes_no_call_and_shows_no_skill():
    out = assess(_meta({}), 0.64, None, 0.15)
    assert out["no_call"] is True and out["skill"] == "none" and out["confidence"] == NO_SKILL


def test_the_fallback_baseline_is_labelled_and_judged_on_its_own_record():
    meta = _meta({"half_width": 0.01, "skill": SHOWN,
                  "fallback": {"name": "logreg", "half_width": 0.12, "skill": NONE}})
    out = assess(meta, 0.55, None, 0.15, fallback=True)
    assert out["skill"] == "none" and out["no_call"] is True
    assert out["note"].startswith("No trained model passed the promotion gate, so this is the logistic-regression baseline")
    assert "2010-01-01..2017-12-29" in out["note"]


@pytest.mark.parametrize("uncertainty, test_metrics, baselines, reason", [
    # The coin verdict shows skill, but the model abstained on 96% of its test sessions.
    ({"half_width": 0.05, "skill": SHOWN, "test_no_call_share": 0.96}, {"auc": 0.58}, {"gbm": {"auc": 0.55}},
     "it made no call on 96% of its test sessions"),
    # ... or a learned baseline did better on the same sessions.
    ({"half_width": 0.05, "skill": SHOWN, "test_no_call_share": 0.2}, {"auc": 0.58}, {"sp500_rule": {"auc": 0.60}},
     "its test AUC 0.580 is not above sp500_rule's 0.600 on the same sessions"),
])
def test_the_forecast_shows_no_skill_when_its_model_card_does_not(uncertainty, test_metrics, baselines, reason):
    meta = dataclasses.replace(_meta(uncertainty), test_metrics=test_metrics, test_baselines=baselines)
    out = assess(meta, 0.70, None, 0.15)
    card = card_skill(meta.uncertainty, meta.test_metrics, meta.test_baselines)
    assert card["skill"] == "none" and out["skill"] == "none" and out["skill_reasons"] == card["reasons"] == [reason]
    assert out["confidence"] == NO_SKILL and reason in out["note"] and "coin" in out["note"]


def test_the_fallback_baseline_is_judged_by_the_card_rule_against_the_other_learned_baselines():
    fallback = {"name": "logreg", "half_width": 0.05, "skill": SHOWN, "test_no_call_share": 0.3}
    meta = dataclasses.replace(_meta({"half_width": 0.05, "skill": SHOWN, "fallback": fallback}),
                               test_baselines={"logreg": {"auc": 0.58}, "gbm": {"auc": 0.61}})
    out = assess(meta, 0.70, None, 0.15, fallback=True)
    assert out["skill"] == "none" and out["skill_reasons"] == ["its test AUC 0.580 is not above gbm's 0.610 on the same sessions"]
    beaten = dataclasses.replace(meta, test_baselines={"logreg": {"auc": 0.58}, "gbm": {"auc": 0.55}})
    assert assess(beaten, 0.70, None, 0.15, fallback=True)["skill"] == "shown"
