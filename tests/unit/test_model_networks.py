"""The networks: ONNX Runtime agrees with PyTorch on random windows; training loss goes down."""

import numpy as np
import onnx
import pytest
import torch

from sensex.features.build import MARKET_FEATURE_NAMES, build_panel
from sensex.features.indicators import STOCK_FEATURE_NAMES
from sensex.models.bundle import NetworkConfig
from sensex.models.config import config_from_dict
from sensex.models.convlstm import NETWORKS, build_network
from sensex.models.export import export_onnx, parity_gap
from sensex.models.segments import split_segments
from sensex.models.train import fit_fold

CHANNELS = len(STOCK_FEATURE_NAMES) + len(MARKET_FEATURE_NAMES) + 1


def random_windows(rng: np.random.Generator, n: int, window: int = 60, stocks: int = 30) -> np.ndarray:
    """(N, T, S, C) like model inputs: clipped z-scores, absent members zero with mask 0."""
    x = np.clip(rng.standard_normal((n, window, stocks, CHANNELS)) * 1.5, -5, 5)
    mask = rng.random((n, window, stocks)) > 0.1
    x[~mask] = 0.0
    x[..., -1] = mask
    return x.astype(np.float32)


@pytest.mark.parametrize("kind", sorted(NETWORKS))
def test_onnx_runtime_matches_pytorch_on_random_windows(kind, tmp_path):
    torch.manual_seed(0)
    network = build_network(kind, NetworkConfig(n_channels=CHANNELS, n_stocks=30, hidden=8, projection=8))
    with torch.no_grad():  # weights larger than the initial ones, so the gates do not sit near 0
        for parameter in network.parameters():
            parameter.mul_(3.0)
    rng = np.random.default_rng(1)
    path = tmp_path / "model.onnx"
    export_onnx(network, random_windows(rng, 1), path)
    windows = random_windows(rng, 24)  # another batch size than the export's: the batch axis is dynamic
    windows[0, :, 5:, :] = 0.0  # a day with most members absent
    gap = parity_gap(network, path, windows)
    assert gap < 1e-5
    if kind == "convlstm":  # the export records the convolution form, which ONNX Runtime runs faster
        assert "Conv" in {node.op_type for node in onnx.load(str(path)).graph.node}
    with torch.no_grad():
        logits = network(torch.from_numpy(windows)).numpy()
    assert logits.std() > 1e-3  # the comparison is between outputs that actually vary



@pytest.mark.parametrize("kernel", [1, 3, 5])
def test_convlstm_matrix_form_is_the_convolution(kernel):
    """PyTorch runs the member convolution as matrix products, ONNX as convolutions: one function."""
    torch.manual_seed(3)
    network = build_network("convlstm", NetworkConfig(n_channels=CHANNELS, n_stocks=12, window=20, hidden=6,
                                                       projection=5, kernel=kernel, member_outputs=True)).eval()
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.mul_(3.0)
        x = torch.from_numpy(random_windows(np.random.default_rng(kernel), 7, window=20, stocks=12))
        expected_index, expected_members = network.convolution_form(x)
        index_logit, member_logits = network.forward_all(x)
    assert expected_index.std() > 1e-2 and expected_members.std() > 1e-2
    assert torch.allclose(index_logit, expected_index, atol=1e-5)
    assert torch.allclose(member_logits, expected_members, atol=1e-5)


def test_quick_like_training_loss_decreases(market, universe):
    panel = build_panel(market, universe)
    config = config_from_dict({
        "model": {"hidden": 8, "projection": 8, "dropout": 0.0},
        "train": {"epochs": 4, "patience": 10, "max_train_windows": 300, "valid_sessions": 60,
                  "test_sessions": 60, "batch_size": 32, "learning_rate": 0.003},
    }, "tiny")
    fitted = fit_fold(panel, split_segments(panel, config), config, "convlstm")
    losses = [row["train_loss"] for row in fitted.history]
    assert len(losses) == 4
    assert losses[-1] < losses[0]
    assert all(later <= earlier + 1e-3 for earlier, later in zip(losses, losses[1:], strict=False))
