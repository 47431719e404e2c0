"""Evaluation metrics on a hand-made case, every figure computed by hand."""

import numpy as np
import pytest
from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

from sensex.models.evaluate import (
    bootstrap_intervals,
    classification_metrics,
    expected_calibration_error,
    paired_difference,
)

# Eight sessions. Calls (p >= 0.5): 1 1 1 0 0 0 1 1 -> TP 3 (rows 0, 2, 6), FP 2 (1, 7), FN 1 (3), TN 2 (4, 5).
Y = np.array([1, 0, 1, 1, 0, 0, 1, 0])
P = np.array([0.92, 0.83, 0.71, 0.44, 0.33, 0.22, 0.58, 0.52])


def test_hand_made_case():
    m = classification_metrics(Y, P)
    assert m["n"] == 8 and m["up_share"] == 0.5
    assert m["accuracy"] == pytest.approx(5 / 8)
    assert m["precision"] == pytest.approx(3 / 5)
    assert m["recall"] == pytest.approx(3 / 4)
    assert m["f1"] == pytest.approx(2 * 3 / (2 * 3 + 2 + 1))
    # UP/DOWN pairs ranked right: 0.92 beats all 4 DOWN days, 0.71 beats 3, 0.44 beats 2, 0.58 beats 3.
    assert m["auc"] == pytest.approx(12 / 16)
    squared = [0.08**2, 0.83**2, 0.29**2, 0.56**2, 0.33**2, 0.22**2, 0.42**2, 0.52**2]
    assert m["brier"] == pytest.approx(sum(squared) / 8)
    assert m["brier"] == pytest.approx(0.2121375)
    # Six rows alone in their tenth: |y - p| each, weight 1/8. Rows 6 and 7 share [0.5, 0.6):
    # observed 0.5, mean p 0.55, weight 2/8.
    singles = 0.08 + 0.83 + 0.29 + 0.56 + 0.33 + 0.22
    assert m["ece"] == pytest.approx(singles / 8 + 2 / 8 * 0.05)


def test_decision_overrides_the_threshold():
    always_up = classification_metrics(Y, np.full(8, 0.4), decision=np.ones(8, dtype=int))
    assert always_up["accuracy"] == 0.5 and always_up["recall"] == 1.0 and always_up["precision"] == 0.5
    assert always_up["auc"] == 0.5  # one score for every day: no ranking at all
    assert always_up["ece"] == pytest.approx(0.1)


def test_ties_count_half_and_one_class_has_no_auc():
    assert classification_metrics(np.array([1, 0]), np.array([0.5, 0.5]))["auc"] == 0.5
    assert np.isnan(classification_metrics(np.array([1, 1, 1]), np.array([0.2, 0.5, 0.9]))["auc"])
    assert expected_calibration_error(np.array([1, 0, 1, 0]), np.full(4, 0.5)) == 0.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agrees_with_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 300)
    p = np.round(rng.random(300), 2)  # rounding makes ties
    m = classification_metrics(y, p)
    call = (p >= 0.5).astype(int)
    assert m["auc"] == pytest.approx(roc_auc_score(y, p))
    assert m["precision"] == pytest.approx(precision_score(y, call))
    assert m["recall"] == pytest.approx(recall_score(y, call))
    assert m["f1"] == pytest.approx(f1_score(y, call))


def test_bootstrap_intervals_bracket_the_estimate():
    rng = np.random.default_rng(0)
    p = rng.random(400)
    y = (rng.random(400) < p).astype(int)
    point = classification_metrics(y, p)
    intervals = bootstrap_intervals(y, p, seed=3)
    for key in ("accuracy", "auc", "brier", "ece"):
        low, high = intervals[key]
        assert low < high
        assert low - 0.02 <= point[key] <= high + 0.02
    assert bootstrap_intervals(y[:10], p[:10]) == {}  # too few rows for 10-day blocks


def test_paired_difference_of_a_model_with_itself_is_zero_and_a_real_edge_shows():
    rng = np.random.default_rng(1)
    signal = rng.random(500)
    y = (rng.random(500) < signal).astype(int)
    same = paired_difference(y, signal, signal)
    assert same == {"auc": [0.0, 0.0, 0.0], "brier": [0.0, 0.0, 0.0]}
    edge = paired_difference(y, signal, np.full(500, 0.5))
    assert edge["auc"][1] > 0  # the whole interval above zero: better ranking than a coin
    assert edge["brier"][2] < 0  # and lower Brier
    diff, low, high = edge["auc"]
    assert low <= diff <= high


def test_calibration_matches_logistic_regression_and_never_reverses_the_ranking():
    from sklearn.linear_model import LogisticRegression

    from sensex.models.calibrate import MIN_SLOPE, apply_calibration, fit_platt

    rng = np.random.default_rng(0)
    logits = rng.normal(size=600)
    labels = (rng.uniform(size=600) < 1 / (1 + np.exp(-(0.7 * logits + 0.2)))).astype(float)
    fitted = fit_platt(logits, labels)
    reference = LogisticRegression(C=1e9).fit(logits[:, None], labels)
    assert fitted.a == pytest.approx(reference.coef_[0, 0], abs=1e-3)
    assert fitted.b == pytest.approx(reference.intercept_[0], abs=1e-3)
    # A network whose validation logits point the wrong way is shrunk toward the base rate, not flipped.
    flipped = fit_platt(-logits, labels)
    assert flipped.a == pytest.approx(MIN_SLOPE)
    p = apply_calibration(flipped, -logits)
    assert np.all(np.diff(p[np.argsort(-logits)]) >= 0)
    assert abs(p.mean() - labels.mean()) < 0.02


def test_average_ranks_are_scipys_rankdata_and_the_auc_sklearns():
    from scipy.stats import rankdata
    from sklearn.metrics import roc_auc_score

    from sensex.models.evaluate import average_ranks, roc_auc

    rng = np.random.default_rng(3)
    for values in (rng.normal(size=500), rng.integers(0, 7, size=500).astype(float), np.ones(5), np.array([])):
        np.testing.assert_array_equal(average_ranks(values), rankdata(values))
    y = rng.integers(0, 2, size=400)
    p = np.round(rng.uniform(size=400), 2)  # ties on purpose
    assert abs(roc_auc(y, p) - roc_auc_score(y, p)) < 1e-12


def test_the_prior_shift_replaces_the_validation_share_of_up_days_by_the_long_run_one():
    from sensex.models.calibrate import apply_calibration, fit_platt, prior_shift

    rng = np.random.default_rng(11)
    valid = (rng.random(250) < 0.45).astype(float)  # a down year
    long_run = np.concatenate([(rng.random(4000) < 0.55).astype(float), valid])
    offset = prior_shift(valid, long_run)
    uninformative = np.zeros(len(valid))  # a network that says nothing: calibration is the base rate alone
    calibration = fit_platt(uninformative, valid).with_prior(offset)
    assert abs(apply_calibration(calibration, uninformative).mean() - long_run.mean()) < 1e-4
    assert prior_shift(valid, valid) == 0.0
    assert prior_shift(np.ones(10), long_run) == 0.0  # one class only: nothing to correct from


def test_the_long_run_prior_reads_training_and_validation_labels_only():
    from types import SimpleNamespace

    from sensex.models.calibrate import logit
    from sensex.models.segments import Segments
    from sensex.models.train import long_run_prior

    rng = np.random.default_rng(12)
    label = (rng.random(1000) < 0.55).astype(float)
    label[700:800] = (rng.random(100) < 0.4)  # the validation window: a down year
    segments = Segments(train=np.arange(60, 700), valid=np.arange(700, 800), test=np.arange(800, 1000))
    offset = long_run_prior(SimpleNamespace(label=label), segments)
    assert offset == pytest.approx(logit(label[60:800].mean()) - logit(label[700:800].mean()))
    label[800:] = 1 - label[800:]  # other test labels, and rows before training, change nothing
    label[:60] = 1.0
    assert long_run_prior(SimpleNamespace(label=label), segments) == offset
