"""ONNX export of a trained network, with a parity check against PyTorch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn


def export_onnx(network: nn.Module, example: np.ndarray, path: Path) -> None:
    """Write `network` to `path`; the batch axis stays dynamic."""
    network.eval()
    tensor = torch.from_numpy(np.ascontiguousarray(example[:1], dtype=np.float32))
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        network,
        (tensor,),
        str(path),
        input_names=["window"],
        output_names=["logit"],
        dynamic_axes={"window": {0: "batch"}, "logit": {0: "batch"}},
        opset_version=17,
        dynamo=False,  # the TorchScript exporter needs no onnxscript and handles the unrolled loop
    )


def parity_gap(network: nn.Module, path: Path, windows: np.ndarray) -> float:
    """Largest |logit_torch - logit_onnx| over `windows`."""
    import onnxruntime as ort

    network.eval()
    with torch.no_grad():
        expected = network(torch.from_numpy(windows.astype(np.float32))).numpy()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(["logit"], {"window": windows.astype(np.float32)})[0]
    return float(np.max(np.abs(expected - got)))
