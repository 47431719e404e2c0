"""ONNX export of a trained network, with a parity check against PyTorch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn


class SeedStack(nn.Module):
    """A deep ensemble as one graph: every seed's network on the same window.

    Outputs "logit" (B,), the seeds' mean logit, and "member_logits" (B, K), each seed's own.
    """

    def __init__(self, networks: list[nn.Module]):
        super().__init__()
        self.networks = nn.ModuleList(networks)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = torch.stack([network(x) for network in self.networks], dim=1)  # (B, K)
        return logits.mean(dim=1), logits


def output_names(network: nn.Module) -> list[str]:
    from sensex.models.member_outputs import STOCK_OUTPUT, WithStockLogits

    if isinstance(network, WithStockLogits):  # the index network's outputs, then each member's
        return [*output_names(network.network), STOCK_OUTPUT]
    return ["logit", "member_logits"] if isinstance(network, SeedStack) else ["logit"]


def export_onnx(network: nn.Module, example: np.ndarray, path: Path) -> None:
    """Write `network` to `path`; the batch axis stays dynamic."""
    network.eval()
    tensor = torch.from_numpy(np.ascontiguousarray(example[:1], dtype=np.float32))
    path.parent.mkdir(parents=True, exist_ok=True)
    names = output_names(network)
    torch.onnx.export(
        network,
        (tensor,),
        str(path),
        input_names=["window"],
        output_names=names,
        dynamic_axes={"window": {0: "batch"}, **{name: {0: "batch"} for name in names}},
        opset_version=17,
        dynamo=False,  # the TorchScript exporter needs no onnxscript and handles the unrolled loop
    )


def parity_gap(network: nn.Module, path: Path, windows: np.ndarray) -> float:
    """Largest |output_torch - output_onnx| over `windows` and every output."""
    import onnxruntime as ort

    network.eval()
    with torch.no_grad():
        expected = network(torch.from_numpy(windows.astype(np.float32)))
    expected = [t.numpy() for t in (expected if isinstance(expected, tuple) else (expected,))]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(output_names(network), {"window": windows.astype(np.float32)})
    return float(max(np.max(np.abs(e - g)) for e, g in zip(expected, got, strict=True)))
