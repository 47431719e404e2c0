"""The model card's skill verdict: a card claims skill only when nothing on its test record
says otherwise, and lists every reason it does not."""

from sensex.models.uncertainty import card_skill

SHOWN = {"skill": {"skill": "shown", "reason": "test AUC 0.600 (90% interval 0.560-0.640) lies above 0.5"},
         "test_no_call_share": 0.2}
BASELINES = {"always_up": {"auc": 0.5}, "prev_day": {"auc": 0.52}, "logreg": {"auc": 0.55}, "gbm": {"auc": 0.57}}


def test_skill_is_shown_when_the_verdict_calls_and_the_learned_baselines_are_beaten():
    assert card_skill(SHOWN, {"auc": 0.60}, BASELINES) == {"skill": "shown", "reasons": []}


def test_a_model_that_abstains_on_most_test_sessions_shows_no_skill():
    card = card_skill({**SHOWN, "test_no_call_share": 0.96}, {"auc": 0.60}, BASELINES)
    assert card == {"skill": "none", "reasons": ["it made no call on 96% of its test sessions"]}


def test_a_learned_baseline_as_good_on_the_same_sessions_means_no_skill_and_names_it():
    card = card_skill(SHOWN, {"auc": 0.57}, {**BASELINES, "sp500_rule": {"auc": 0.58}})
    assert card["skill"] == "none"
    assert card["reasons"] == ["its test AUC 0.570 is not above sp500_rule's 0.580 on the same sessions"]


def test_every_reason_is_listed_and_a_bundle_without_a_record_is_unknown():
    coin = {"skill": {"skill": "none", "reason": "test AUC 0.510 is not distinguishable from a coin's 0.5"},
            "test_no_call_share": 0.93}
    card = card_skill(coin, {"auc": 0.51}, BASELINES)
    assert card["skill"] == "none" and len(card["reasons"]) == 3
    assert card["reasons"][0].startswith("test AUC 0.510")
    assert card_skill({}, {"auc": 0.6}, BASELINES)["skill"] == "unknown"
    # Naive baselines (always-UP, previous day) are the coin rule's business, not this one's.
    assert card_skill(SHOWN, {"auc": 0.58}, {"prev_day": {"auc": 0.60}, "logreg": {"auc": float("nan")}})["skill"] == "shown"
