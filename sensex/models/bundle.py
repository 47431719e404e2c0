"""A trained model as files: everything serving needs, none of it torch.

The layout is the MLflow ONNX flavour's, so the directory training writes and the directory
MLflow hands back are read the same way:

    model.onnx                        the network, input "window" (B, T, S, C) float32, output "logit" (B,);
                                      an ensemble's graph holds every seed and also outputs
                                      "member_logits" (B, K), "logit" being their mean;
                                      with member forecasts also "stock_logits" (B, S)
    extra_files/preprocessing.json    the scaler (fit window named inside)
    extra_files/model.json            `BundleMeta`: kind, network config, member order, window,
                                      calibration, data fingerprint, summary metrics, checksum,
                                      the fitted baselines as JSON, the ensemble's combiner,
                                      the uncertainty record (conformal half-width, skill verdict)
                                      and the range forecast's fitted record (applied in numpy)

The torch weights are not part of the bundle (serving never reads them): training logs them
beside the model as a run artifact.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from sensex.core.errors import CorruptModelError, ModelNotFoundError
from sensex.features.windows import Scaler
from sensex.models.calibrate import Calibration, apply_calibration
from sensex.models.ensemble import Combiner, seed_spread
from sensex.models.portable import gbm_logit, logreg_logit

ONNX_FILE = "model.onnx"
EXTRA_DIR = "extra_files"
SCALER_FILE = "preprocessing.json"
META_FILE = "model.json"
STATE_FILE = "state_dict.pt"
# 1: the free dict before BundleMeta (no checksum, no baselines); 2: typed BundleMeta;
# 3: adds `baselines` (fitted, as JSON), `ensemble` (the combiner) and `uncertainty`. Older files
# read with those empty: they forecast as before, with a no-call interval and no skill shown.
# 4: adds `members` (member and sector forecasts: the graph's "stock_logits" output, calibrations,
# sectors, validation choice, test record); older bundles read with it empty: no member forecasts.
# 5: adds `range` (the next-session range forecast's fitted record, applied in numpy by
# `sensex.models.range_portable`) and `test_range` (its test scores beside HAR, EWMA, GARCH...);
# older bundles read with them empty: no expected move, and `risk` stays the realized-volatility word.
SCHEMA_VERSION = 5


@dataclass(frozen=True)
class NetworkConfig:
    """The shape of a network: enough to rebuild it from its weights (nanoGPT's GPTConfig)."""

    n_channels: int  # C: stock indicators + market context + mask
    n_stocks: int  # S
    window: int = 60  # T
    hidden: int = 16  # H
    projection: int = 16  # P: 1x1 convolution of the inputs before the recurrence
    kernel: int = 3
    dropout: float = 0.1
    # A per-member output head (next-session direction of each member) trained beside the index
    # head; False in bundles written before member forecasts existed.
    member_outputs: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class BundleMeta:
    """What `model.json` holds; written and read only here."""

    kind: str
    network: NetworkConfig
    window: int
    warmup: int
    symbols: list[str]
    index_symbol: str
    stock_features: list[str]
    market_features: list[str]
    calibration: Calibration
    segments: dict[str, list[str]]  # train/valid/test -> [first, last] session
    data: dict  # the data fingerprint: source, synthetic, content_hash, first/last date, rows
    config: dict  # the whole preset the model was trained with
    onnx_sha256: str = ""
    onnx_parity_max_abs: float | None = None
    test_metrics: dict[str, float] = field(default_factory=dict)
    test_intervals: dict[str, list[float]] = field(default_factory=dict)
    test_baselines: dict[str, dict[str, float]] = field(default_factory=dict)
    feature_registry: list[dict] = field(default_factory=list)
    mode: str = "close"  # `sensex.market.modes`: which data the model reads (preopen: the overnight S&P 500 too)
    # The test probabilities scored against close > open of the target session (`features.labels`).
    test_metrics_after_open: dict[str, float] = field(default_factory=dict)

    baselines: dict = field(default_factory=dict)  # `fit_baselines(...)`: fitted on the training window
    ensemble: dict = field(default_factory=dict)  # kind "ensemble": {"seeds": K, "combiner": Combiner.to_dict()}
    uncertainty: dict = field(default_factory=dict)  # `Uncertainty.to_dict()`
    members: dict = field(default_factory=dict)  # `sensex.models.member_outputs`: empty without member forecasts
    range: dict = field(default_factory=dict)  # `sensex.models.range_fit`: empty without a range forecast
    test_range: dict = field(default_factory=dict)  # `range_fit.summary` of its test window
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, default=str)

    @classmethod
    def from_json(cls, text: str) -> BundleMeta:
        raw = json.loads(text)
        if not isinstance(raw, dict):
            raise ValueError("model.json is not an object")
        version = int(raw.get("schema_version", 1))
        if version > SCHEMA_VERSION:
            raise ValueError(f"model.json has schema version {version}; this sensex reads up to {SCHEMA_VERSION}")
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in raw.items() if k in known}
        values["network"] = NetworkConfig(**raw["network"])
        values["calibration"] = Calibration(**raw["calibration"])
        values["schema_version"] = version
        return cls(**values)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_bundle_json(directory: Path, scaler: Scaler, meta: BundleMeta) -> None:
    extra = directory / EXTRA_DIR
    extra.mkdir(parents=True, exist_ok=True)
    (extra / SCALER_FILE).write_text(scaler.to_json())
    (extra / META_FILE).write_text(meta.to_json())


def bundle_files(directory: Path) -> dict[str, Path]:
    """Where each file of a bundle lives: fixed places, nothing searched for."""
    return {ONNX_FILE: directory / ONNX_FILE, SCALER_FILE: directory / EXTRA_DIR / SCALER_FILE,
            META_FILE: directory / EXTRA_DIR / META_FILE}


@dataclass
class Bundle:
    directory: Path
    scaler: Scaler
    meta: BundleMeta
    _session: object | None = None

    @property
    def window(self) -> int:
        return self.meta.window

    @property
    def symbols(self) -> list[str]:
        return list(self.meta.symbols)

    @property
    def calibration(self) -> Calibration:
        return self.meta.calibration

    def session(self):
        if self._session is None:
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = 2
            # No memory arena: ONNX Runtime's arena keeps the peak of the largest batch it ever ran
            # for the life of the session (a drift history's batches left the dashboard 150 MB
            # larger, for good). One window is as fast without it (1.0 ms either way).
            options.enable_cpu_mem_arena = False
            try:
                self._session = ort.InferenceSession(
                    str(self.directory / ONNX_FILE), options, providers=["CPUExecutionProvider"]
                )
            except Exception as exc:  # onnxruntime raises its own untyped errors for bad graphs
                raise CorruptModelError(
                    f"ONNX Runtime cannot load {self.directory / ONNX_FILE} ({str(exc)[:120]}): retrain the model."
                ) from exc
        return self._session

    def logits(self, windows: np.ndarray) -> np.ndarray:
        """(N, T, S, C) float32 -> (N,) raw logits."""
        assert windows.ndim == 4, "expected (N, T, S, C)"
        out = self.session().run(["logit"], {"window": windows.astype(np.float32, copy=False)})[0]
        return np.asarray(out, dtype=np.float64).reshape(-1)

    @property
    def is_ensemble(self) -> bool:
        return self.meta.kind == "ensemble"

    def combiner(self) -> Combiner:
        return Combiner.from_dict(self.meta.ensemble["combiner"])

    @property
    def has_members(self) -> bool:
        """True when the graph has the "stock_logits" output (bundles of schema 4 trained with it)."""
        return bool(self.meta.members)

    def _ensemble_inputs(self, windows: np.ndarray, tabular: dict | None,
                         seeds: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(N, 3) combiner inputs and (N, K) seed logits for windows whose last sessions have the
        baselines' inputs `tabular` ({"index": (N, 13), "latest": (N, F + M)}, one row broadcast)."""
        if tabular is None:
            raise ValueError("an ensemble needs the baselines' inputs of each window's last session")
        if seeds is None:
            seeds = self.session().run(["member_logits"], {"window": windows.astype(np.float32, copy=False)})[0]
        seeds = np.asarray(seeds, dtype=np.float64)  # (N, K)
        n = len(seeds)
        index_rows = np.broadcast_to(np.asarray(tabular["index"], dtype=np.float64), (n, len(self.meta.baselines["logreg"]["coef"])))
        latest_rows = np.atleast_2d(np.asarray(tabular["latest"], dtype=np.float64))
        latest_rows = np.broadcast_to(latest_rows, (n, latest_rows.shape[1]))
        gbm = self.meta.baselines.get("gbm")
        gbm_part = gbm_logit(gbm, latest_rows) if gbm else np.zeros(n)
        inputs = np.column_stack([seeds.mean(axis=1), logreg_logit(self.meta.baselines["logreg"], index_rows), gbm_part])
        return inputs, seeds

    def probabilities(self, windows: np.ndarray, tabular: dict | None = None) -> np.ndarray:
        """Calibrated P(UP) for each window; an ensemble also needs `tabular` (see `_ensemble_inputs`)."""
        if self.is_ensemble:
            inputs, _ = self._ensemble_inputs(windows, tabular)
            return self.combiner().probabilities(inputs)
        return apply_calibration(self.calibration, self.logits(windows))

    def probabilities_with_members(self, windows: np.ndarray, tabular: dict | None = None,
                                   ) -> tuple[np.ndarray, np.ndarray | None]:
        """Calibrated index P(UP) (N,) and raw member logits (N, S) (None without member outputs),
        both from one run of the graph."""
        if not self.has_members:
            return self.probabilities(windows, tabular), None
        names = ["member_logits" if self.is_ensemble else "logit", self.meta.members.get("output", "stock_logits")]
        first, stocks = self.session().run(names, {"window": windows.astype(np.float32, copy=False)})
        stocks = np.asarray(stocks, dtype=np.float64)
        if self.is_ensemble:
            inputs, _ = self._ensemble_inputs(windows, tabular, first)
            return self.combiner().probabilities(inputs), stocks
        return apply_calibration(self.calibration, np.asarray(first, dtype=np.float64).reshape(-1)), stocks

    def spread(self, windows: np.ndarray, tabular: dict | None = None) -> np.ndarray | None:
        """(N, 2) the ensemble seeds' spread on P(UP); None for a single network."""
        if not self.is_ensemble:
            return None
        inputs, seeds = self._ensemble_inputs(windows, tabular)
        return seed_spread(self.combiner(), seeds, inputs)


def load_bundle(directory: str | Path) -> Bundle:
    """Read and verify a bundle: every file present, JSON well formed, model.onnx matching the
    checksum training recorded. Raises ModelNotFoundError (files missing) or CorruptModelError."""
    directory = Path(directory)
    files = bundle_files(directory)
    missing = [name for name, path in files.items() if not path.is_file()]
    if missing:
        raise ModelNotFoundError(f"Model files {missing} are missing in {directory}: retrain with `sensex train`.")
    try:
        meta = BundleMeta.from_json(files[META_FILE].read_text())
        scaler = Scaler.from_json(files[SCALER_FILE].read_text())
    except (ValueError, TypeError, KeyError) as exc:
        raise CorruptModelError(f"The model description in {directory} is unreadable ({str(exc)[:120]}): retrain the model.") from exc
    if meta.onnx_sha256 and file_sha256(files[ONNX_FILE]) != meta.onnx_sha256:
        raise CorruptModelError(f"{files[ONNX_FILE]} does not match the checksum recorded at training: it is corrupt.")
    return Bundle(directory=directory, scaler=scaler, meta=meta)
