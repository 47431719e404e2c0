"""bench/members.py's comparison of sector forecasts derived from the members with sector forecasts
trained on sector labels, on the synthetic market (no real data, no network training)."""

from __future__ import annotations

import numpy as np
import pytest
from bench_scripts import load_bench

from sensex.data.sources import synthetic
from sensex.features.dataset import prepare
from sensex.market.universe import load_universe


@pytest.fixture(scope="module")
def bench():
    return load_bench("members", "members_bench_for_sectors")


@pytest.fixture(scope="module")
def panel_and_sectors():
    universe = load_universe("sensex")
    panel = prepare(synthetic.generate(universe, "2016-06-01", "2021-12-31"), universe)
    return panel, [universe.sector_of(s) for s in panel.symbols]


def test_sector_features_are_the_mean_of_the_available_members(bench, panel_and_sectors):
    panel, sectors = panel_and_sectors
    names, x = bench.sector_features(panel, sectors)
    assert names == sorted(set(sectors)) and x.shape == (len(panel.dates), len(names), panel.stock.shape[2])
    g = names.index("Information Technology")
    columns = [j for j, s in enumerate(sectors) if s == "Information Technology"]
    day = len(panel.dates) - 1
    assert np.allclose(x[day, g], panel.stock[day, columns].mean(axis=0))


def test_trained_and_derived_sectors_are_scored_on_the_same_rows_and_the_validation_chooses(bench, panel_and_sectors, capsys):
    panel, sectors = panel_and_sectors
    result = bench.sector_sources(panel, sectors)
    assert result["windows"] == {"valid": ["2018-01-01", "2018-12-31"], "test": ["2019-01-01", "2021-12-31"]}
    for name in ("valid", "test"):
        r = result[name]
        assert r["n"] >= 200 * len(result["sectors"])  # every sector on (almost) every session
        assert 0.3 < r["trained_auc"] < 0.7 and 0.3 < r["derived_auc"] < 0.7
        diff, low, high = r["trained_minus_derived_auc"]
        assert diff == pytest.approx(r["trained_auc"] - r["derived_auc"]) and low <= diff <= high
    better = result["valid"]["trained_auc"] > result["valid"]["derived_auc"]
    assert result["chosen"] == ("trained" if better else "derived")
    bench.print_sector_sources(result)
    out = capsys.readouterr().out
    assert "chosen on validation AUC: " + result["chosen"] in out and "trained - derived AUC" in out


def test_the_sector_model_sees_no_label_after_the_training_window(bench, panel_and_sectors):
    """Flipping every member's return from 2018-06-01 on leaves both fitted models, and so their scores
    on a validation window that ends before it, exactly as they were: nothing later is read."""
    panel, sectors = panel_and_sectors
    before = bench.sector_sources(panel, sectors, train_end="2017-12-31")
    later = panel.dates >= np.datetime64("2018-06-01")  # rows whose label is read only after validation
    stock = panel.stock.copy()
    ret_1 = panel.stock_feature_names.index("ret_1")
    stock[later, :, ret_1] = -stock[later, :, ret_1]
    from dataclasses import replace

    after = bench.sector_sources(replace(panel, stock=stock), sectors, train_end="2017-12-31",
                                 valid=("2018-01-01", "2018-05-30"))
    early = bench.sector_sources(panel, sectors, train_end="2017-12-31", valid=("2018-01-01", "2018-05-30"))
    assert after["valid"]["trained_auc"] == early["valid"]["trained_auc"]
    assert after["valid"]["derived_auc"] == early["valid"]["derived_auc"]
    assert before["valid"]["n"] > early["valid"]["n"]
