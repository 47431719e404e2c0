"""Knobs from YAML presets as frozen dataclasses; `load_config("quick")` or a path."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from importlib import resources
from pathlib import Path

import yaml

from sensex.errors import ConfigError


@dataclass(frozen=True)
class FeatureConfig:
    window: int = 60  # sessions per model input
    warmup: int = 250  # extra sessions read before the window so indicators settle
    clip: float = 5.0  # z-scores beyond this are clipped


@dataclass(frozen=True)
class ModelConfig:
    kind: str = "convlstm"
    hidden: int = 16
    projection: int = 16
    kernel: int = 3
    dropout: float = 0.1
    ensemble_seeds: int = 5  # `--model ensemble`: ConvLSTM seeds trained (train.seed, train.seed + 1, ...)


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 7
    epochs: int = 20
    batch_size: int = 64
    learning_rate: float = 1e-3
    weight_decay: float = 1e-3
    patience: int = 4
    max_train_windows: int | None = None  # keep only the most recent windows (quick demo)
    threads: int = 2
    # Segments, by the date of the window's last session. When unset: the last
    # `test_sessions` labelled sessions are the test window, the `valid_sessions` before it validate.
    train_end: str | None = None
    valid_end: str | None = None
    test_end: str | None = None
    valid_sessions: int = 250
    test_sessions: int = 250
    refit_months: int = 12  # walk-forward: refit every N months, predict the next N-month block


@dataclass(frozen=True)
class PromotionConfig:
    metric: str = "test_auc"
    min_accuracy: float = 0.5
    min_auc: float = 0.5
    drift_tolerance: float = 0.05
    # The gate that refuses a coin (`sensex.serving.gate`), on rows scored alike for every model:
    min_probability_sd: float = 0.01  # P(UP) must vary at least this much (sd) on those rows
    brier_below_always_up: bool = True  # Brier must be strictly below always-UP's on those rows
    auc_above_naive: bool = True  # the AUC interval must not lie entirely at or below the best naive baseline's AUC


@dataclass(frozen=True)
class Config:
    name: str = "quick"
    features: FeatureConfig = field(default_factory=FeatureConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    promotion: PromotionConfig = field(default_factory=PromotionConfig)

    def to_dict(self) -> dict:
        return asdict(self)

    def flat(self) -> dict[str, object]:
        """`section.key -> value`, for MLflow params."""
        out: dict[str, object] = {"name": self.name}
        for section in ("features", "model", "train", "promotion"):
            for key, value in asdict(getattr(self, section)).items():
                out[f"{section}.{key}"] = value
        return out

    def with_segments(self, **dates: str | None) -> Config:
        given = {k: v for k, v in dates.items() if v}
        return replace(self, train=replace(self.train, **given)) if given else self


def _section(cls, values: dict | None, where: str):
    values = values or {}
    known = {f.name for f in fields(cls)}
    unknown = set(values) - known
    if unknown:
        raise ConfigError(f"Unknown keys {sorted(unknown)} in {where}: allowed are {sorted(known)}.")
    return cls(**values)


def config_from_dict(data: dict, name: str) -> Config:
    return Config(
        name=data.get("name", name),
        features=_section(FeatureConfig, data.get("features"), "features"),
        model=_section(ModelConfig, data.get("model"), "model"),
        train=_section(TrainConfig, data.get("train"), "train"),
        promotion=_section(PromotionConfig, data.get("promotion"), "promotion"),
    )


def load_config(preset: str | Path = "quick") -> Config:
    """A preset name shipped with the package (quick, full) or a path to a YAML file."""
    path = Path(preset)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise ConfigError(f"Config file {path} does not exist.")
        text, name = path.read_text(), path.stem
    else:
        resource = resources.files("sensex") / "configs" / f"{preset}.yaml"
        if not resource.is_file():
            raise ConfigError(f"Unknown preset {preset!r}: use quick, full, or a path to a YAML file.")
        text, name = resource.read_text(), str(preset)
    return config_from_dict(yaml.safe_load(text) or {}, name)
