"""Shapley values of feature families: exact on a model whose families add up, and they always sum
to the forecast minus the forecast with every family removed."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from sensex.serving.explain import occlusion, shapley

STOCK = ["rsi_14", "roc_5", "atr_14", "obv"]
REGISTRY = [{"name": "rsi_14", "family": "oscillator"}, {"name": "roc_5", "family": "momentum"},
            {"name": "atr_14", "family": "volatility"}, {"name": "obv", "family": "volume"}]
MARKET = ["index_ret_1", "breadth"]


class Additive:
    """P(UP) = 0.5 + sum over channels of weight * the channel's mean over the window."""

    def __init__(self, weights: np.ndarray, interaction: float = 0.0):
        self.meta = SimpleNamespace(stock_features=STOCK, market_features=MARKET, feature_registry=REGISTRY)
        self.weights, self.interaction = weights, interaction
        self.symbols = ["A", "B", "C"]

    def probabilities(self, batch: np.ndarray, tabular=None) -> np.ndarray:
        means = batch.mean(axis=(1, 2))  # (B, C)
        # An interaction between two families: occlusion double counts it, Shapley splits it.
        return 0.5 + means @ self.weights + self.interaction * means[:, 0] * means[:, 1]


@pytest.fixture
def window():
    return np.random.default_rng(3).uniform(0.5, 1.5, size=(1, 10, 3, len(STOCK) + len(MARKET))).astype(np.float64)


def test_shapley_values_of_an_additive_model_are_each_familys_own_effect(window):
    weights = np.array([0.02, -0.01, 0.03, 0.0, 0.015, -0.005])
    model = Additive(weights)
    result = shapley(model, window)
    means = window.mean(axis=(0, 1, 2))
    expected = {"oscillator": weights[0] * means[0], "momentum": weights[1] * means[1],
                "volatility": weights[2] * means[2], "volume": 0.0,
                "market context": weights[4] * means[4] + weights[5] * means[5]}
    got = {row["group"]: row["shap"] for row in result["families"]}
    assert got == pytest.approx(expected, abs=1e-9)
    assert result["base"] == pytest.approx(0.5, abs=1e-4)


def test_shapley_values_add_up_and_split_an_interaction_that_occlusion_counts_twice(window):
    model = Additive(np.zeros(len(STOCK) + len(MARKET)), interaction=0.04)
    result = shapley(model, window)
    total = sum(row["shap"] for row in result["families"])
    assert total == pytest.approx(result["probability"] - result["base"], abs=1e-4)  # both rounded as forecasts are
    got = {row["group"]: row["shap"] for row in result["families"]}
    joint = 0.04 * window[..., 0].mean() * window[..., 1].mean()
    assert got["oscillator"] == pytest.approx(joint / 2) and got["momentum"] == pytest.approx(joint / 2)
    occluded = {row["group"]: row["delta"] for row in occlusion(model, window, {}, by_member=False)["families"]}
    assert occluded["oscillator"] == pytest.approx(joint) and occluded["momentum"] == pytest.approx(joint)


def test_the_same_seed_gives_the_same_values(window):
    model = Additive(np.array([0.02, -0.01, 0.03, 0.01, 0.015, -0.005]), interaction=0.02)
    assert shapley(model, window, seed=1) == shapley(model, window, seed=1)
