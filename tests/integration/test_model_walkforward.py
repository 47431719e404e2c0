"""Walk-forward: each block is predicted by a fit that never saw the block's labels."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from sensex.core.errors import DataError
from sensex.features.build import build_panel
from sensex.models.baselines import BASELINES
from sensex.models.config import config_from_dict
from sensex.models.walkforward import walk_forward, walk_forward_folds

pytestmark = pytest.mark.integration

START, END, MONTHS = "2021-01-01", "2021-12-31", 6
SECOND_BLOCK = pd.Timestamp("2021-07-01")


@pytest.fixture(scope="module")
def config():
    return config_from_dict({
        "model": {"hidden": 4, "projection": 4, "dropout": 0.0},
        "train": {"epochs": 2, "patience": 1, "max_train_windows": 200, "valid_sessions": 60, "batch_size": 32,
                  "workers": 1},
    }, "tiny")


@pytest.fixture(scope="module")
def panel(market, universe):
    return build_panel(market, universe)


@pytest.fixture(scope="module")
def result(panel, config):
    return walk_forward(panel, config, START, END, kinds=("convlstm", "lstm"), refit_months=MONTHS)


def test_blocks_tile_the_range_and_fits_end_before_their_block(result):
    assert [b["block"] for b in result["blocks"]] == [["2021-01-01", "2021-06-30"], ["2021-07-01", "2021-12-31"]]
    for block in result["blocks"]:
        start = block["block"][0]
        assert block["train"][1] < block["valid"][0] <= block["valid"][1] < start <= block["rows"][0]
        for fit in block["fits"].values():
            assert fit["scaler_fit"][1] == block["train"][1]  # the scaler saw the training sessions only
            assert fit["calibration"]["fit_start"] == block["valid"][0]
            assert fit["calibration"]["fit_end"] == block["valid"][1] < start


def test_every_model_is_scored_on_the_same_rows(result):
    n = len(result["predictions"]["label"])
    assert n == sum(b["n"] for b in result["blocks"]) == len(result["predictions"]["date"])
    assert set(result["pooled"]) == {"convlstm", "lstm", *BASELINES}
    for name, report in result["pooled"].items():
        assert len(result["predictions"][name]) == n
        assert report["n"] == n and report["intervals"]["auc"][0] <= report["intervals"]["auc"][1]
    assert all(set(b["metrics"]) == set(result["pooled"]) for b in result["blocks"])


def fitted(block: dict) -> dict:
    """What a fold learned (scaler window, calibration, weights), without its timing."""
    return {kind: {k: v for k, v in fit.items() if k != "seconds"} for kind, fit in block["fits"].items()}


def test_a_block_never_informs_its_own_fit(panel, config, result):
    """Rewrite the second block and everything after it: labels flipped, then features scrambled.
    Its scaler, network weights and calibration stay the same; with only labels changed, so do
    its predictions, and only its scores move."""
    after = panel.dates >= SECOND_BLOCK
    label = panel.label.copy()
    label[after] = 1.0 - label[after]  # the last label stays NaN
    relabelled = walk_forward(dataclasses.replace(panel, label=label), config, START, END,
                              kinds=("convlstm", "lstm"), refit_months=MONTHS)
    assert fitted(relabelled["blocks"][1]) == fitted(result["blocks"][1])
    for name in relabelled["pooled"]:
        np.testing.assert_array_equal(relabelled["predictions"][name], result["predictions"][name])
    assert relabelled["blocks"][1]["metrics"]["convlstm"]["accuracy"] == pytest.approx(
        1 - result["blocks"][1]["metrics"]["convlstm"]["accuracy"])

    rng = np.random.default_rng(0)
    stock, market = panel.stock.copy(), panel.market.copy()
    stock[after] = rng.permutation(stock[after])
    market[after] = market[after] * 3.0 + 1.0
    scrambled = walk_forward(dataclasses.replace(panel, label=label, stock=stock, market=market), config,
                             START, END, kinds=("convlstm",), refit_months=MONTHS, baselines=False)
    assert fitted(scrambled["blocks"][1])["convlstm"] == fitted(result["blocks"][1])["convlstm"]


def test_too_little_history_says_how_much_is_needed(panel, config):
    with pytest.raises(DataError, match=r"needs about \d+ sessions before its block"):
        walk_forward_folds(panel, config, "2019-01-01", "2019-12-31", 12)


@pytest.mark.ray
def test_blocks_as_ray_tasks_give_the_one_process_results(panel, config):
    """`workers=2` runs each block as a Ray task (a local instance of two CPUs) at one torch
    thread: the same fits, bit for bit, as one process with `train.threads: 1`."""
    from sensex.models import cluster

    one_thread = config.model_copy(update={"train": config.train.model_copy(update={"threads": 1})})
    alone = walk_forward(panel, one_thread, START, END, kinds=("convlstm",), refit_months=MONTHS)
    try:
        side_by_side = walk_forward(panel, config, START, END, kinds=("convlstm",), refit_months=MONTHS, workers=2)
    finally:
        cluster.shutdown()
    assert [b["block"] for b in side_by_side["blocks"]] == [b["block"] for b in alone["blocks"]]
    assert [b["fits"]["convlstm"]["weights_sha256"] for b in side_by_side["blocks"]] == \
        [b["fits"]["convlstm"]["weights_sha256"] for b in alone["blocks"]]
    for name in ("label", "convlstm", *BASELINES):
        np.testing.assert_array_equal(side_by_side["predictions"][name], alone["predictions"][name])
    assert side_by_side["predictions"]["date"] == alone["predictions"]["date"]
