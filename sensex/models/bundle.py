"""A trained model as files: everything serving needs, none of it torch.

    model.onnx          the network, input "window" (B, T, S, C) float32, output "logit" (B,)
    preprocessing.json  the scaler (fit window named inside)
    model.json          kind, network config, member order, window, calibration, data fingerprint,
                        feature registry, summary metrics
    state_dict.pt       torch weights (for retraining and the parity test only)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sensex.errors import ModelNotFoundError
from sensex.features.windows import Scaler
from sensex.models.calibrate import Calibration, apply_calibration

ONNX_FILE = "model.onnx"
SCALER_FILE = "preprocessing.json"
META_FILE = "model.json"
STATE_FILE = "state_dict.pt"


def write_bundle_json(directory: Path, scaler: Scaler, meta: dict) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / SCALER_FILE).write_text(scaler.to_json())
    (directory / META_FILE).write_text(json.dumps(meta, indent=1, default=str))


@dataclass
class Bundle:
    directory: Path
    scaler: Scaler
    meta: dict
    calibration: Calibration
    _session: object | None = None

    @property
    def window(self) -> int:
        return int(self.meta["window"])

    @property
    def symbols(self) -> list[str]:
        return list(self.meta["symbols"])

    def session(self):
        if self._session is None:
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = 2
            self._session = ort.InferenceSession(
                str(self.directory / ONNX_FILE), options, providers=["CPUExecutionProvider"]
            )
        return self._session

    def logits(self, windows: np.ndarray) -> np.ndarray:
        """(N, T, S, C) float32 -> (N,) raw logits."""
        assert windows.ndim == 4, "expected (N, T, S, C)"
        out = self.session().run(["logit"], {"window": windows.astype(np.float32, copy=False)})[0]
        return np.asarray(out, dtype=np.float64).reshape(-1)

    def probabilities(self, windows: np.ndarray) -> np.ndarray:
        """Calibrated P(UP) for each window."""
        return apply_calibration(self.calibration, self.logits(windows))


def load_bundle(directory: str | Path) -> Bundle:
    directory = Path(directory)
    missing = [f for f in (ONNX_FILE, SCALER_FILE, META_FILE) if not (directory / f).is_file()]
    if missing:
        raise ModelNotFoundError(
            f"Model files {missing} are missing in {directory}: retrain with `sensex train`."
        )
    meta = json.loads((directory / META_FILE).read_text())
    return Bundle(
        directory=directory,
        scaler=Scaler.from_json((directory / SCALER_FILE).read_text()),
        meta=meta,
        calibration=Calibration(**meta["calibration"]),
    )
