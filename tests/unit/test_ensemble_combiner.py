"""The ensemble's combiner: fit on validation rows only, chosen by cross-fitted log-loss,
non-negative stacking weights, JSON round trip, and a seed spread that holds the ensemble's P(UP)."""

import json

import numpy as np

from sensex.models.calibrate import sigmoid
from sensex.models.ensemble import Combiner, fit_combiner, fit_stacking, fit_voting, seed_spread


def _inputs(rng, n):
    truth = 0.8 * rng.standard_normal(n)
    y = (rng.random(n) < sigmoid(truth)).astype(float)
    seeds = truth[:, None] * 0.3 + 0.2 * rng.standard_normal((n, 4))  # (N, K): informative, badly scaled
    logreg = -truth + 0.5 * rng.standard_normal(n)  # upside down
    gbm = 0.3 * rng.standard_normal(n)  # noise
    return np.column_stack([seeds.mean(axis=1), logreg, gbm]), seeds, y


def test_stacking_weights_are_never_negative_and_keep_the_informative_member():
    rng = np.random.default_rng(0)
    x, _, y = _inputs(rng, 2000)
    combiner = fit_stacking(x, y)
    assert all(w >= 0 for w in combiner.weights)
    assert combiner.weights[0] > 1.0 and combiner.weights[1] == 0.0  # rescaled up; the reversed member dropped


def test_voting_weights_members_by_their_skill_over_the_base_rate():
    rng = np.random.default_rng(1)
    x, _, y = _inputs(rng, 2000)
    combiner = fit_voting(x, y)
    assert combiner.weights[0] > 0.9 and abs(sum(combiner.weights) - 1) < 1e-12


def test_the_rule_is_chosen_by_cross_fitted_validation_loss_and_survives_json():
    rng = np.random.default_rng(2)
    x, seeds, y = _inputs(rng, 600)
    combiner, crossed = fit_combiner(x, y, "2018-01-01", "2018-12-31")
    assert combiner.rule == min(combiner.validation_log_loss, key=combiner.validation_log_loss.get)
    assert crossed.shape == y.shape and ((crossed > 0) & (crossed < 1)).all()
    again = Combiner.from_dict(json.loads(json.dumps(combiner.to_dict())))
    np.testing.assert_array_equal(again.probabilities(x), combiner.probabilities(x))
    assert (again.fit_start, again.fit_end) == ("2018-01-01", "2018-12-31")


def test_the_seed_spread_holds_the_ensemble_probability_for_both_rules():
    rng = np.random.default_rng(3)
    x, seeds, y = _inputs(rng, 500)
    for combiner in (fit_stacking(x, y), fit_voting(x, y)):
        p = combiner.probabilities(x)
        spread = seed_spread(combiner, seeds, x)
        assert (spread[:, 0] <= p + 1e-12).all() and (p <= spread[:, 1] + 1e-12).all()
        assert (spread[:, 1] - spread[:, 0]).max() > 0


def test_the_prior_offset_moves_the_combined_logit_for_both_rules_and_old_bundles_have_none():
    rng = np.random.default_rng(4)
    x, _, y = _inputs(rng, 400)
    offset = 0.3
    for fit in (fit_stacking, fit_voting):
        plain = fit(x, y)
        moved = Combiner.from_dict(plain.to_dict() | {"prior_offset": offset})
        p, q = plain.probabilities(x), moved.probabilities(x)
        np.testing.assert_allclose(np.log(q / (1 - q)) - np.log(p / (1 - p)), offset, atol=1e-9)
        old = plain.to_dict()
        old.pop("prior_offset")  # a bundle written before the offset existed
        np.testing.assert_array_equal(Combiner.from_dict(old).probabilities(x), p)


def test_fit_combiner_moves_its_cross_fitted_probabilities_by_the_same_offset():
    rng = np.random.default_rng(5)
    x, _, y = _inputs(rng, 500)
    plain, crossed = fit_combiner(x, y)
    moved, crossed_moved = fit_combiner(x, y, prior_offset=-0.2)
    assert moved.rule == plain.rule and moved.prior_offset == -0.2
    np.testing.assert_allclose(np.log(crossed_moved / (1 - crossed_moved)) - np.log(crossed / (1 - crossed)), -0.2,
                               atol=1e-6)
