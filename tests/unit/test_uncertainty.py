"""The interval on P(UP), the no-call flag, the skill verdict and the risk word follow the evidence."""

import numpy as np
import pytest

from sensex.models.uncertainty import (
    NO_SKILL,
    confidence_word,
    conformal_half_width,
    coverage,
    intervals,
    judge_skill,
    no_call,
    risk_word,
)


def _draw(rng, n, strength=1.0):
    """Outcomes drawn from known probabilities, and a model that knows them."""
    p = 1 / (1 + np.exp(-strength * rng.standard_normal(n)))
    return p, (rng.random(n) < p).astype(float)


def test_the_interval_straddles_half_exactly_when_the_conformal_set_holds_both_outcomes():
    rng = np.random.default_rng(0)
    p_valid, y_valid = _draw(rng, 400)
    half_width = conformal_half_width(p_valid, y_valid, alpha=0.1)
    scores = np.sort(np.where(y_valid == 1, 1 - p_valid, p_valid))
    q = scores[int(np.ceil(401 * 0.9)) - 1]
    p_new = np.linspace(0.01, 0.99, 197)
    holds_up, holds_down = 1 - p_new <= q, p_new <= q
    assert np.array_equal(no_call(intervals(p_new, half_width)), holds_up & holds_down)


def test_coverage_on_exchangeable_sessions_is_near_the_promised_level():
    rng = np.random.default_rng(1)
    p_valid, y_valid = _draw(rng, 500, strength=2.0)
    p_test, y_test = _draw(rng, 20000, strength=2.0)
    bounds = intervals(p_test, conformal_half_width(p_valid, y_valid, alpha=0.1))
    assert 0.87 <= coverage(bounds, y_test) <= 0.95
    assert 0.0 < no_call(bounds).mean() < 1.0  # a real signal makes some calls


def test_a_coin_makes_no_calls_and_too_few_sessions_give_the_widest_interval():
    rng = np.random.default_rng(2)
    y = (rng.random(300) < 0.5).astype(float)
    p = np.full(300, 0.52)
    assert no_call(intervals(p, conformal_half_width(p, y))).all()
    assert conformal_half_width(p[:5], y[:5]) == 0.5


def test_the_seed_spread_widens_the_interval():
    p = np.array([0.6, 0.6])
    spread = np.array([[0.45, 0.62], [0.58, 0.61]])
    bounds = intervals(p, 0.05, spread)
    np.testing.assert_allclose(bounds, [[0.45, 0.65], [0.55, 0.65]])
    assert no_call(bounds).tolist() == [True, False]


@pytest.mark.parametrize("auc, interval, sd, skill", [
    (0.58, [0.54, 0.62], 0.05, "shown"),
    (0.58, [0.50, 0.62], 0.05, "none"),  # the interval reaches 0.5
    (0.58, [0.54, 0.62], 0.004, "none"),  # P(UP) barely varies: collapsed
    (0.45, [0.41, 0.49], 0.05, "none"),
    (None, None, None, "none"),  # no evidence recorded
])
def test_skill_needs_an_auc_interval_above_half_and_a_varying_probability(auc, interval, sd, skill):
    verdict = judge_skill(auc, interval, sd)
    assert verdict.skill == skill and verdict.reason


def test_confidence_words_never_say_medium_without_skill():
    call = np.array([[0.56, 0.70]])
    assert confidence_word("none", call, 0.63) == NO_SKILL
    assert confidence_word("shown", np.array([[0.45, 0.70]]), 0.57) == "Low"
    assert confidence_word("shown", call, 0.63) == "Medium"
    assert confidence_word("shown", np.array([[0.60, 0.80]]), 0.70) == "High"


def test_risk_follows_realized_volatility_bands():
    bands = [0.12, 0.20]
    assert [risk_word(v, bands) for v in (0.08, 0.15, 0.35)] == ["Low", "Medium", "High"]
    assert risk_word(float("nan"), bands) == "unknown" and risk_word(0.15, []) == "unknown"
