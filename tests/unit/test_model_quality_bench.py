"""bench/model_quality.py's verdict and targets on made-up probabilities (no training, no real data)."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from bench_scripts import load_bench

from sensex.models.evaluate import report

pytestmark = pytest.mark.slow  # importing the bench imports torch (seconds); the bootstrap takes seconds more


@pytest.fixture(scope="module")
def bench():
    return load_bench("model_quality", "model_quality_bench")


def _scored(bench, mode: str):
    rng = np.random.default_rng(0)
    y = (rng.random(400) < 0.55).astype(int)
    noise = rng.random(400)
    probabilities = {
        "ensemble": np.clip(0.5 + 0.4 * (y - 0.5) + 0.2 * (noise - 0.5), 0.01, 0.99),  # strong on purpose
        "convlstm": np.clip(0.5 + 0.05 * (y - 0.5) + 0.2 * (noise - 0.5), 0.01, 0.99),
        "lstm": np.full(400, 0.55) + 0.01 * noise,
        "gbm": 0.5 + 0.02 * noise, "logreg": 0.5 + 0.02 * rng.random(400),
        "always_up": np.full(400, 0.55), "prev_day": 0.5 + 0.02 * rng.random(400),
    }
    if mode == "preopen":
        probabilities["sp500_rule"] = np.where(rng.random(400) < 0.7, 0.45 + 0.2 * y, 0.55)
    rows = [bench._row(name, report(y, p), None) for name, p in probabilities.items()]
    return y, probabilities, rows


def test_preopen_models_are_set_against_the_sp500_rule(bench):
    y, probabilities, rows = _scored(bench, "preopen")
    verdict = bench.verdict(rows, y, probabilities, "preopen")
    assert set(verdict["models"]) == {"ensemble", "convlstm", "lstm"}
    assert all("sp500_rule" in m["minus"] for m in verdict["models"].values())
    assert "AUC minus sp500_rule" in verdict["text"]
    fixed = {"mode": "preopen", "rows": rows, "verdict": verdict}
    targets = bench.targets(fixed)
    ensemble_auc = next(r["auc"] for r in rows if r["model"] == "ensemble")
    assert targets["ensemble_auc_at_least_0.63"] == (ensemble_auc >= 0.63)
    low = verdict["models"]["convlstm"]["minus"]["sp500_rule"]["auc"][1]
    assert targets["convlstm_auc_above_sp500_rule_paired_interval_above_0"] == (low > 0)
    # The honesty alarm of this mode is an AUC of 0.75 or more (the made-up ensemble has one).
    assert verdict["suspicious"] == [r["model"] for r in rows if r["auc"] >= 0.75] and verdict["suspicious"]


def test_close_mode_has_no_sp500_rule_and_its_alarm_is_accuracy(bench):
    y, probabilities, rows = _scored(bench, "close")
    verdict = bench.verdict(rows, y, probabilities, "close")
    assert "sp500_rule" not in verdict["models"]["ensemble"]["minus"]
    assert verdict["suspicious"] == [r["model"] for r in rows if r["accuracy"] > 0.60]
    floor = bench.ece_noise_floor(probabilities["ensemble"], draws=200)
    targets = bench.targets({"mode": "close", "rows": rows, "verdict": verdict, "ece_noise_floor": floor})
    assert set(targets) == {"ensemble_brier_below_always_up", "ensemble_ece_at_most_0.03",
                            "ensemble_ece_within_calibration_noise"}
    ece = next(r["ece"] for r in rows if r["model"] == "ensemble")
    assert targets["ensemble_ece_within_calibration_noise"] == (ece <= floor["p95"])


def test_without_the_real_files_it_says_so_and_stops(bench, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["model_quality.py", "--mode", "preopen", "--data", str(tmp_path / "absent")])
    assert bench.main() == 0
    assert "real data not found" in capsys.readouterr().out
    monkeypatch.setattr(sys, "argv", ["model_quality.py", "--mode", "preopen", "--data", str(tmp_path),
                                      "--global-data", str(tmp_path)])
    assert bench.main() == 0
    assert "GSPC.csv" in capsys.readouterr().out


@pytest.fixture(scope="module")
def member_panel():
    """The synthetic SENSEX from 2016: the members' fixed split trains ..2017-12-31, tests 2019-2021."""
    from sensex.data.sources import synthetic
    from sensex.features.dataset import prepare
    from sensex.market.universe import load_universe

    universe = load_universe("sensex")
    return universe, prepare(synthetic.generate(universe, "2016-06-01", "2021-12-31"), universe)


def test_the_member_table_sets_the_model_against_the_three_baselines(bench, member_panel, capsys):
    import json

    from sensex.models.members import member_targets, score_members

    universe, panel = member_panel
    sectors = [universe.sector_of(s) for s in panel.symbols]
    targets = member_targets(panel)
    test_rows = np.flatnonzero((panel.dates >= "2019-01-01") & (panel.dates <= "2021-12-31"))
    # A made-up model that knows tomorrow: its IC must stand clear of every baseline's.
    oracle = score_members(np.where(targets.usable, targets.next_return, np.nan), panel, targets, test_rows, sectors)
    fixed = {"members": {"model": oracle, "model_selection": {"chosen": "logreg", "logreg": {"auc_pooled": 0.51}}}}
    members = bench.member_results(panel, universe, fixed)
    rows = members["rows"]
    assert set(rows) == {"model", "model_selection", "reversal", "momentum_20", "logreg_members"}
    for name in ("model", "reversal", "momentum_20", "logreg_members"):
        assert {"auc_pooled", "ic_mean", "ic_t", "ic_interval", "sector_auc_pooled"} <= set(rows[name]), name
        assert rows[name]["ic_days"] > 700  # three years of sessions, the same window for every row
    # The baselines are bench/members.py's own, on the same split.
    assert rows["reversal"]["ic_mean"] == bench.MEMBER_BENCH.baseline_rows(panel, sectors)["reversal"]["ic_mean"]
    assert members["model"] == "ensemble" and "the intervals do not overlap: reliably above it" in members["verdict"]
    json.dumps(members, default=float)  # it goes into the results file
    bench.print_members(members)
    out = capsys.readouterr().out
    assert "Members and sectors, close mode: train ..2017-12-31, test 2019-01-01..2021-12-31" in out
    assert all(name in out for name in ("model", "reversal", "momentum_20", "logreg_members", "sector AUC"))
    assert "served member forecast 'logreg'" in out


def test_without_the_fixed_split_the_member_table_has_the_baselines_alone(bench, member_panel, capsys):
    universe, panel = member_panel
    members = bench.member_results(panel, universe, None)
    assert members["model"] is None and members["verdict"] is None
    assert set(members["rows"]) == {"reversal", "momentum_20", "logreg_members"}
    bench.print_members(members)
    assert "no model row" in capsys.readouterr().out


def test_the_member_table_can_be_skipped(bench, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["model_quality.py", "--skip-members", "--data", str(tmp_path / "absent")])
    assert bench.main() == 0
    assert "real data not found" in capsys.readouterr().out


def test_the_ece_noise_floor_is_what_a_calibrated_forecaster_shows(bench):
    """Labels drawn from the probabilities themselves: a calibrated forecaster's ECE, which shrinks
    with more rows, against which a miscalibrated one stands out."""
    rng = np.random.default_rng(1)
    p = 0.55 + 0.05 * rng.standard_normal(736)
    floor = bench.ece_noise_floor(p, draws=400)
    assert 0.0 < floor["p05"] < floor["median"] < floor["p95"] < 0.06 and floor["n"] == 736
    assert bench.ece_noise_floor(np.tile(p, 20), draws=100)["median"] < floor["median"] / 2
    from sensex.models.evaluate import expected_calibration_error

    overconfident = np.clip(0.5 + 4 * (p - 0.5), 0.01, 0.99)
    y = (rng.random(736) < p).astype(float)
    assert expected_calibration_error(y, overconfident) > bench.ece_noise_floor(overconfident, draws=400)["p95"]


def test_a_fixed_split_prints_whole_with_its_reliability_and_prior_shift(bench, capsys):
    """print_fixed runs after minutes of training: every line it prints, on made-up probabilities."""
    from sensex.models.evaluate import report
    from sensex.models.reliability import reliability_table

    rng = np.random.default_rng(3)
    y = (rng.random(300) < 0.55).astype(float)
    names = ("ensemble", "convlstm", "lstm", "gbm", "logreg", "always_up", "prev_day")
    p = {name: np.clip(0.55 + 0.05 * rng.standard_normal(300), 0.01, 0.99) for name in names}
    rows = [bench._row(name, report(y, p[name]), 1.0, report(y, p[name])) for name in names]
    fixed = {
        "mode": "close", "preset": "full", "segments": {"test": ["2019-01-02", "2021-12-30"]}, "rows": rows,
        "verdict": bench.verdict(rows, y, p), "ece_noise_floor": bench.ece_noise_floor(p["ensemble"], draws=50),
        "reliability": reliability_table(y, p["ensemble"], bins=5),
        "prior_shift": bench.prior_shift_effect(y, p["ensemble"], 0.04),
        "uncertainty": {"ensemble": {"half_width": 0.07, "test_coverage": 0.9, "test_no_call_share": 0.6,
                                     "skill": "none", "skill_reason": "made up"}},
        "ensemble": {"inputs": ["convlstm_seeds", "logreg", "gbm"],
                     "combiner": {"rule": "voting", "weights": [0.5, 0.0, 0.5], "validation_log_loss": {}}},
    }
    bench.print_fixed(fixed)
    out = capsys.readouterr().out
    assert "Ensemble reliability on the test window (five equal-count bins)" in out and out.count("(n=60)") == 5
    shift = fixed["prior_shift"]
    assert "Prior shift (logit +0.0400" in out and shift["with"]["mean_probability"] > shift["without"]["mean_probability"]
    assert set(bench.targets(fixed)) == {"ensemble_brier_below_always_up", "ensemble_ece_at_most_0.03",
                                         "ensemble_ece_within_calibration_noise"}
