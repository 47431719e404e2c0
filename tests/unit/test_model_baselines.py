"""Baselines are fit on the training rows alone and scored on the same rows as the model."""

import dataclasses

import numpy as np
import pytest

from sensex.features.build import build_panel
from sensex.models.baselines import BASELINES, baseline_predictions, latest_session_design


@pytest.fixture(scope="module")
def panel(market, universe):
    return build_panel(market, universe)


@pytest.fixture(scope="module")
def rows(panel):
    labelled = np.flatnonzero(np.isfinite(panel.label))
    return labelled[300:700], {"valid": labelled[700:760], "test": labelled[760:]}


def test_names_are_the_contract(panel, rows):
    train, evaluation = rows
    out = baseline_predictions(panel, train, evaluation)
    assert tuple(out) == BASELINES == ("always_up", "prev_day", "logreg", "gbm")
    for name in BASELINES:
        for segment, eval_rows in evaluation.items():
            p, decision = out[name][segment]
            assert p.shape == decision.shape == eval_rows.shape
            assert ((p >= 0) & (p <= 1)).all()


def test_labels_outside_the_training_rows_change_nothing(panel, rows):
    train, evaluation = rows
    before = baseline_predictions(panel, train, evaluation)
    flipped = panel.label.copy()
    outside = np.ones(len(flipped), dtype=bool)
    outside[train] = False
    flipped[outside & np.isfinite(flipped)] = 1.0 - flipped[outside & np.isfinite(flipped)]
    after = baseline_predictions(dataclasses.replace(panel, label=flipped), train, evaluation)
    for name in BASELINES:
        for segment in evaluation:
            np.testing.assert_array_equal(before[name][segment][0], after[name][segment][0])
            np.testing.assert_array_equal(before[name][segment][1], after[name][segment][1])


def test_gbm_does_learn_from_its_training_labels(panel, rows):
    train, evaluation = rows
    before = baseline_predictions(panel, train, evaluation)["gbm"]["test"][0]
    shuffled = panel.label.copy()
    shuffled[train] = np.random.default_rng(0).permutation(shuffled[train])
    after = baseline_predictions(dataclasses.replace(panel, label=shuffled), train, evaluation)["gbm"]["test"][0]
    assert not np.allclose(before, after)


def test_gbm_sees_member_averages_over_available_members_and_the_market(panel):
    design = latest_session_design(panel)
    n_stock = len(panel.stock_feature_names)
    assert design.shape == (len(panel.dates), n_stock + len(panel.market_feature_names))
    t = 500
    available = panel.available[t]
    np.testing.assert_allclose(design[t, :n_stock], panel.stock[t, available].mean(axis=0))
    np.testing.assert_array_equal(design[t, n_stock:], panel.market[t])
    assert np.isnan(design[0, :n_stock]).all()  # indicators still warming up: missing, not zero


def test_timings_are_reported_per_baseline(panel, rows):
    timings: dict = {}
    baseline_predictions(panel, rows[0], rows[1], timings=timings)
    assert set(timings) == set(BASELINES) and all(t >= 0 for t in timings.values())
