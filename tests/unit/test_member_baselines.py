"""The member and sector evaluation (`sensex.models.members`): its IC arithmetic and its time split."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import FIXTURE_END, FIXTURE_START

from sensex.features.build import build_panel
from sensex.models.members import MemberTargets, baseline_scores, daily_rank_ic, evaluate_baselines, member_targets


@pytest.fixture(scope="module")
def panel(universe, market):
    return build_panel(market, universe)


def test_a_perfect_score_has_ic_one_and_its_negative_minus_one():
    rng = np.random.default_rng(0)
    returns = rng.standard_normal((30, 8))
    targets = MemberTargets(returns, np.ones_like(returns, dtype=bool))
    assert np.allclose(daily_rank_ic(returns, targets, np.arange(30)), 1.0)
    assert np.allclose(daily_rank_ic(-returns, targets, np.arange(30)), -1.0)


def test_targets_are_the_next_sessions_return(panel):
    targets = member_targets(panel)
    ret_1 = panel.stock[..., panel.stock_feature_names.index("ret_1")]
    assert np.allclose(targets.next_return[:-1][targets.usable[:-1]], ret_1[1:][targets.usable[:-1]])
    assert not targets.usable[-1].any()


def test_the_logistic_baseline_sees_only_its_training_window(panel):
    targets = member_targets(panel)
    train = np.arange(400)
    before = baseline_scores(panel, train, targets)["logreg_members"]
    changed = MemberTargets(targets.next_return.copy(), targets.usable)
    changed.next_return[401:] = -changed.next_return[401:]  # every later label flipped
    after = baseline_scores(panel, train, changed)["logreg_members"]
    assert np.array_equal(np.isnan(before), np.isnan(after))
    assert np.allclose(before[np.isfinite(before)], after[np.isfinite(after)])


def test_every_baseline_reports_the_same_rows(universe, panel):
    sectors = [universe.sector_of(s) for s in panel.symbols]
    results = evaluate_baselines(panel, sectors, "2020-06-30", "2021-01-01", FIXTURE_END)
    assert set(results) == {"reversal", "momentum_20", "logreg_members"}
    assert len({r["ic_days"] for r in results.values()}) == 1
    for r in results.values():
        low, high = r["ic_interval"]
        assert low <= r["ic_mean"] <= high and 0.3 < r["auc_pooled"] < 0.7 and 0.3 < r["sector_auc_pooled"] < 0.7
    assert FIXTURE_START < "2020-06-30"
