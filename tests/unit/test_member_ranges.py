"""The members' pooled range forecast: fit on the training window only, calibrated on validation,
and applied with numpy to one session's features."""

import numpy as np
import pytest

from sensex.features.build import build_panel
from sensex.models.member_ranges import fit_member_ranges, member_har, member_variance
from sensex.models.range_portable import member_moves


@pytest.fixture(scope="module")
def panel(market, universe):
    return build_panel(market, universe)


@pytest.fixture(scope="module")
def windows(panel):
    labelled = np.flatnonzero(np.isfinite(panel.label))
    return labelled[100:700], labelled[700:800], labelled[800:]


def test_the_fit_sees_the_training_window_only(panel, windows):
    train, valid, test = windows
    record = fit_member_ranges(panel, train, valid, test)
    assert record["train_rows"] > 10 * len(train) and record["valid_rows"] > 10 * len(valid)
    assert 0.6 < record["test"]["coverage_80"] < 0.95
    later = panel.stock.copy()
    later[train[-1] + 2:] *= 3.0  # every member's prices after the training window's labels
    moved = fit_member_ranges(type(panel)(**{**panel.__dict__, "stock": later}), train, valid, test)
    assert moved["coef"] == record["coef"] and moved["intercept"] == record["intercept"]
    assert moved["move_ratio"] != record["move_ratio"]  # calibrated on validation, which did change


def test_features_are_causal_and_moves_follow_availability(panel, windows):
    features = member_har(panel)
    assert features.shape == (len(panel.dates), len(panel.symbols), 3)
    cut = 500
    head = type(panel)(**{**panel.__dict__, "stock": panel.stock[:cut], "available": panel.available[:cut],
                          "dates": panel.dates[:cut]})
    np.testing.assert_array_equal(member_har(head)[-1], features[cut - 1])  # nothing after t changes row t
    assert np.isnan(member_variance(panel)[~panel.available]).all()
    record = fit_member_ranges(panel, *windows)
    available = panel.available[-1].copy()
    available[0] = False
    moves = member_moves(record, features[-1], available)
    assert moves[0] is None and all(m["pct"] > 0 and m["band_pct"] > m["pct"] for m in moves[1:] if m)
    assert member_moves({}, features[-1], available) == [None] * len(available)
