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


def test_sp500_rule_calls_the_sign_of_the_last_sp500_session():
    from sensex.models.baselines import sp500_rule_predictions

    last_ret = np.array([0.01, -0.02, 0.03, -0.01, 0.02, np.nan, 0.01, -0.01])
    label = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, np.nan])
    train, test = np.arange(5), np.arange(5, 8)
    p, decision = sp500_rule_predictions(last_ret, label, train, {"test": test})["test"]
    # Training: UP after 2 of 3 S&P rises, after 1 of 2 falls; 3 of 5 days UP overall.
    np.testing.assert_allclose(p, [3 / 5, 2 / 3, 1 / 2])  # no S&P session known: the UP share
    np.testing.assert_array_equal(decision, [1, 1, 0])


def test_sp500_rule_ignores_labels_outside_training():
    from sensex.models.baselines import sp500_rule_predictions

    rng = np.random.default_rng(0)
    last_ret, label = rng.normal(size=200), (rng.random(200) > 0.5).astype(float)
    flipped = label.copy()
    flipped[100:] = 1 - flipped[100:]
    rows = {"test": np.arange(100, 200)}
    a = sp500_rule_predictions(last_ret, label, np.arange(100), rows)["test"]
    b = sp500_rule_predictions(last_ret, flipped, np.arange(100), rows)["test"]
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], (last_ret[100:] > 0).astype(int))


def test_a_preopen_panel_adds_the_sp500_rule(universe):
    from sensex.data.sources import synthetic
    from sensex.features.overnight import add_overnight
    from sensex.models.baselines import sp500_rule_predictions

    market = synthetic.generate(universe, "2016-01-01", "2021-12-31", with_context=True)
    panel = add_overnight(build_panel(market, universe), market)
    labelled = np.flatnonzero(np.isfinite(panel.label))
    train, evaluation = labelled[300:800], {"test": labelled[800:]}
    out = baseline_predictions(panel, train, evaluation)
    assert tuple(out) == (*BASELINES, "sp500_rule")
    last_ret = panel.market[:, panel.market_feature_names.index("sp500_last_ret")]
    expected = sp500_rule_predictions(last_ret, panel.label, train, evaluation)["test"]
    np.testing.assert_array_equal(out["sp500_rule"]["test"][1], expected[1])
    # On the synthetic market the S&P 500's last session carries information about the next close
    # (about 59% right against 52% UP days over 2005-2021; here on about 650 sessions).
    y = panel.label[evaluation["test"]]
    assert np.mean(out["sp500_rule"]["test"][1] == y) > max(np.mean(y), 1 - np.mean(y)) + 0.02
