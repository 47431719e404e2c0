"""bench/risk.py: its checks on synthetic data, its verdicts, and its sentence when the real files are absent."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
from bench_scripts import load_bench

from sensex.data.sources import synthetic
from sensex.features.dataset import prepare
from sensex.features.ranges import range_data
from sensex.models import volatility as vol

risk = load_bench("risk", "risk_bench")


@pytest.fixture(scope="module")
def fitted(universe):
    rows = synthetic.generate(universe, "2018-06-01", "2021-12-31", with_context=True)
    data = range_data(rows, prepare(rows, universe, "preopen"))
    train = vol.date_rows(data, None, "2020-06-30")
    valid = vol.date_rows(data, "2020-07-01", "2020-12-31")
    test = vol.date_rows(data, "2021-01-01", "2021-12-31")
    return rows, data, vol.fit_range(data, train, valid), train, test


def test_forecasts_rebuilt_from_the_rows_known_then_are_the_same(fitted, universe):
    rows, data, fit, _, _ = fitted
    # 2021-03-10: BSE closed on 03-11, so the pre-open forecast for 03-12 knows two more US sessions.
    differences = risk.look_ahead_check(rows, universe, data, fit, ("2021-03-10", "2021-06-30"))
    assert differences == {"2021-03-10": 0.0, "2021-06-30": 0.0}


def test_the_diagnostics_stay_on_the_test_rows(fitted):
    _, data, fit, train, test = fitted
    fixed_year = risk.validation_coverage(data, fit, test)
    assert 0 < fixed_year["coverage_80"] < fixed_year["coverage_90"] <= 1
    # The validation year's quantiles applied to every test row, not the rolling ones.
    log_h = fit.forecasts(data)[vol.MODEL][test]
    low, high = fit.portable["intervals"][vol.MODEL]["0.8"]
    move = data.next_abs_move[test]
    inside = (move >= 100 * np.sqrt(np.exp(log_h + low))) & (move <= 100 * np.sqrt(np.exp(log_h + high)))
    assert fixed_year["coverage_80"] == pytest.approx(inside.mean())
    by_year = risk.coverage_by_year(data, fit, test)
    assert list(by_year) == ["2021"] and by_year["2021"]["n"] == len(test)
    inside, below, above = by_year["2021"]["80"]
    assert inside + below + above == pytest.approx(1.0)
    assert set(risk.log_mean_intercept_qlike(data, fit, train, test)) == set(fit.portable["forecasters"])


def test_targets_read_the_paired_intervals():
    def record(gain_low: float, gain_high: float) -> dict:
        return {"model_gain": {"qlike": [(gain_low + gain_high) / 2, gain_low, gain_high]}}

    scored = {"metrics": {"qlike": 0.3}, "coverage_80": 0.79,
              "baselines": {"ewma": record(0.01, 0.2), "garch": record(-0.01, 0.1), "har": record(-0.02, 0.01)}}
    verdict = risk.targets(scored)
    assert verdict["beats_ewma_qlike"] and not verdict["beats_garch_qlike"]
    assert verdict["level_with_har_qlike"] and verdict["coverage_80_in_range"]
    assert verdict["qlike_below_0.35_look_ahead_checked"]
    assert "qlike_below_0.35_look_ahead_checked" not in risk.targets(scored, fixed=False)


def test_without_the_real_files_it_says_so_and_stops(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["risk.py", "--data", str(tmp_path / "absent"), "--out", str(tmp_path / "r.json")])
    assert risk.main() == 0
    assert "skipped" in capsys.readouterr().out
    assert not (tmp_path / "r.json").exists()


def test_walk_forward_pools_yearly_refits(fitted):
    _, data, _, _, _ = fitted
    wf = risk.walk_forward(data, None, (2021, 2021), n_boot=20)
    assert wf["chosen"].keys() == {"2021"} and wf["range"]["n"] == wf["qlike_by_year"]["2021"]["n"]
    assert np.isfinite(wf["range"]["metrics"]["qlike"])
    assert pd.Timestamp("2021-01-01") <= data.dates[vol.date_rows(data, "2021-01-01", "2021-12-31")[0]]
