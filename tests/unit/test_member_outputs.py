"""Member and sector forecasts: no look-ahead in member labels or fits, the serving arithmetic
(ranks, missing members, derived sectors) and its one-sentence errors."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from sensex.core.errors import NoMemberForecasts
from sensex.features.build import build_panel
from sensex.features.windows import fit_scaler, make_windows, model_input
from sensex.models.bundle import NetworkConfig
from sensex.models.config import config_from_dict
from sensex.models.convlstm import ConvLSTM
from sensex.models.member_outputs import (
    WithStockLogits,
    fit_linear,
    linear_logits,
    sector_logits,
    sector_truth,
    stock_up,
)
from sensex.models.members import MemberTargets, member_targets
from sensex.serving.forecast import Forecast, MemberForecast
from sensex.serving.member_forecasts import forecast_part, member_forecasts


@pytest.fixture(scope="module")
def panel(universe, market):
    return build_panel(market, universe)


@pytest.fixture(scope="module")
def tensor(panel):
    return model_input(panel, fit_scaler(panel, panel.dates[300], panel.dates[600]))


def test_a_member_label_is_the_next_session_only(panel):
    """Changing every price after session t + 1 leaves the labels up to t untouched."""
    t = 500
    before = member_targets(panel)
    later = panel.stock.copy()
    later[t + 2 :] = np.nan_to_num(later[t + 2 :]) * -3.0 + 1.0
    after = member_targets(SimpleNamespace(**{**panel.__dict__, "stock": later}))
    assert np.array_equal(before.usable[: t + 1], after.usable[: t + 1])
    assert np.array_equal(before.next_return[: t + 1], after.next_return[: t + 1], equal_nan=True)
    assert np.array_equal(stock_up(before)[: t + 1], stock_up(after)[: t + 1])


def test_the_linear_candidate_sees_only_its_training_rows(panel, tensor):
    targets = member_targets(panel)
    train = np.arange(300, 600)
    coef, intercept = fit_linear(tensor, len(panel.stock_feature_names), targets, train)
    flipped = MemberTargets(targets.next_return.copy(), targets.usable)
    flipped.next_return[601:] = -flipped.next_return[601:]  # every later label reversed
    later = tensor.copy()
    later[601:] = 0.0
    coef_after, intercept_after = fit_linear(later, len(panel.stock_feature_names), flipped, train)
    assert np.array_equal(coef, coef_after) and intercept == intercept_after


def test_the_exported_linear_head_matches_numpy(panel, tensor):
    config = NetworkConfig(n_channels=tensor.shape[2], n_stocks=tensor.shape[1], window=20, hidden=4, projection=4,
                           member_outputs=True)
    rng = np.random.default_rng(0)
    coef = rng.standard_normal(len(panel.stock_feature_names))
    network = WithStockLogits(ConvLSTM(config), "logreg", None, coef, 0.3, len(panel.stock_feature_names)).eval()
    rows = np.array([400, 401, 402])
    with torch.no_grad():
        logit, stocks = network(torch.from_numpy(make_windows(tensor, rows, 20)))
    assert logit.shape == (3,) and stocks.shape == (3, tensor.shape[1])
    assert np.allclose(stocks.numpy(), linear_logits(tensor, rows, coef, 0.3), atol=1e-4)
    head = WithStockLogits(network.network, "network", network.network)
    with torch.no_grad():
        again_logit, member_logits = head(torch.from_numpy(make_windows(tensor, rows, 20)))
    assert torch.allclose(again_logit, logit) and member_logits.shape == (3, tensor.shape[1])


def test_sectors_average_available_members_and_label_equal_weighted():
    logits = np.array([[1.0, 3.0, -2.0]])
    names, x = sector_logits(logits, np.array([[True, False, True]]), ["A", "A", "B"])
    assert names == ["A", "B"] and np.allclose(x, [[1.0, -2.0]])
    targets = MemberTargets(np.array([[0.02, -0.03, np.nan]]), np.array([[True, True, False]]))
    truth = sector_truth(targets, np.array([0]), ["A", "A", "B"])
    assert truth[0, 0] == 0.0 and np.isnan(truth[0, 1])  # (0.02 - 0.03) / 2 < 0; B has nobody usable


META = SimpleNamespace(
    symbols=["AAA", "BBB", "CCC", "DDD"],
    members={"sectors": ["Banks", "Banks", "IT", "IT"],
             "calibration": {"method": "identity", "a": 1.0, "b": 0.0},
             "sector_calibration": {"method": "identity", "a": 1.0, "b": 0.0}},
)


def test_members_are_ranked_and_a_member_without_data_has_no_probability():
    out = member_forecasts(META, np.array([0.5, -1.0, 2.0, 0.0]), np.array([True, True, True, False]))
    assert [(m["symbol"], m["rank"]) for m in out["members"]] == [("CCC", 1), ("AAA", 2), ("BBB", 3), ("DDD", None)]
    assert out["members"][-1]["probability"] is None
    banks, it = sorted(out["sectors"], key=lambda s: s["sector"])
    assert banks["members"] == ["AAA", "BBB"] and it["members"] == ["CCC"]  # DDD has no data
    assert banks["probability"] == pytest.approx(1 / (1 + np.exp(0.25)), abs=1e-4)
    assert [s["sector"] for s in out["sectors"]] == ["IT", "Banks"]  # most likely up first
    assert all(MemberForecast(**m) for m in out["members"])


def test_a_forecast_without_members_answers_one_sentence():
    with pytest.raises(NoMemberForecasts, match=r"no member forecasts .* retrain it with `sensex train` and promote it\.$"):
        forecast_part({"model_version": "3"}, "members")
    with pytest.raises(NoMemberForecasts, match="labelled baseline"):
        forecast_part({"model_version": "baseline:logreg"}, "sectors")
    assert forecast_part({"model_version": "3", "sectors": []}, "sectors")["sectors"] == []


def test_the_forecast_type_refuses_unknown_member_keys():
    with pytest.raises(ValueError):
        MemberForecast(symbol="A", sector="B", probability=0.5, rank=1, weight=3)
    assert "members" in Forecast.model_fields and "sectors" in Forecast.model_fields


def test_member_outputs_can_be_turned_off():
    config = config_from_dict({"model": {"member_outputs": False}}, "off")
    assert config.model.member_outputs is False and config.model.member_loss_weight == 0.5
