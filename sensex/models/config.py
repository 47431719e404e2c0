"""Knobs from YAML presets, validated by pydantic; `load_config("quick")` or a path.

Every section is a frozen model that forbids unknown keys and checks types and ranges, so a typo
or a nonsense value in a preset is one sentence naming the file and the field, not a traceback
(or a silently ignored key) later in training or in the promotion gate. Numbers must be finite;
a number written as text (`"0.5"`, or `1e-3`, which YAML 1.1 reads as text) is read as a number.
"""

from __future__ import annotations

import math
from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from sensex.core.errors import ConfigError, DateError
from sensex.market import dates


def _iso_date(value: object) -> object:
    """A segment end as ISO text (YAML reads an unquoted 2020-12-31 as a date, the code wants
    text), strict YYYY-MM-DD by `sensex.market.dates`' rules like every date a user gives."""
    why = dates.problem(value)
    if why is not None:
        raise ValueError(why)
    return dates.parse(value).isoformat()


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _not_a_boolean(cls, value: object, info: ValidationInfo) -> object:
        # pydantic would read `epochs: yes` as 1; only a knob declared yes/no takes a yes/no value.
        if isinstance(value, bool) and cls.model_fields[info.field_name].annotation not in (bool, "bool"):
            raise ValueError("a yes/no value where a number or a name belongs")
        return value


class FeatureConfig(_Section):
    window: int = Field(60, gt=0)  # sessions per model input
    warmup: int = Field(250, ge=0)  # extra sessions read before the window so indicators settle
    clip: float = Field(5.0, gt=0)  # z-scores beyond this are clipped


class ModelConfig(_Section):
    kind: str = Field("convlstm", min_length=1)
    hidden: int = Field(16, gt=0)
    projection: int = Field(16, gt=0)
    kernel: int = Field(3, gt=0)
    dropout: float = Field(0.1, ge=0, lt=1)
    # Member forecasts: the ConvLSTM also learns each member's next-session direction (loss weight
    # below, beside the index's 1.0); the served member forecast is this head or a pooled linear
    # model, whichever validates better (`sensex.models.member_outputs`).
    member_outputs: bool = True
    member_loss_weight: float = Field(0.5, ge=0)
    # `--model ensemble`: ConvLSTM seeds trained (train.seed, train.seed + 1, ...). Three, not five:
    # each seed is a whole training run (about 3 minutes for `full` on one core), and the combiner,
    # fit on 2018, gives the seeds' mean only 0.25 beside gbm's 0.75 (bench/model_quality.py, close).
    ensemble_seeds: int = Field(3, gt=0)
    # The next-session range (volatility) forecast, fit beside the direction model by every
    # `sensex train` and carried in the same bundle (`sensex.models.range_fit`); a preset may turn it off.
    range_forecast: bool = True

    @field_validator("kernel")
    @classmethod
    def _odd_kernel(cls, value: int) -> int:
        # The member convolution keeps one output per member only with an odd width (centred).
        if value % 2 == 0:
            raise ValueError("must be odd (1, 3, 5, ...): the convolution over members is centred on each member")
        return value


class TrainConfig(_Section):
    seed: int = Field(7, ge=0)
    epochs: int = Field(20, gt=0)
    batch_size: int = Field(64, gt=0)
    learning_rate: float = Field(1e-3, gt=0)
    weight_decay: float = Field(1e-3, ge=0)
    patience: int = Field(4, gt=0)  # epochs without a better validation loss before stopping
    max_train_windows: int | None = Field(None, gt=0)  # keep only the most recent windows (quick demo)
    threads: int = Field(2, gt=0)
    # Processes that fit networks side by side (the ensemble's seeds, the walk-forward's blocks),
    # each at one torch thread: on 2 cores two one-thread fits get through about 1.4x the work of
    # one two-thread fit. 1 keeps every fit in this process at `threads`.
    workers: int = Field(2, gt=0)
    # Segments, by the date of the window's last session. When unset: the last
    # `test_sessions` labelled sessions are the test window, the `valid_sessions` before it validate.
    train_end: str | None = None
    valid_end: str | None = None
    test_end: str | None = None
    valid_sessions: int = Field(250, gt=0)
    test_sessions: int = Field(250, gt=0)
    refit_months: int = Field(12, gt=0)  # walk-forward: refit every N months, predict the next N-month block

    @field_validator("train_end", "valid_end", "test_end", mode="before")
    @classmethod
    def _segment_end(cls, value: object) -> object:
        return value if value is None else _iso_date(value)


class PromotionConfig(_Section):
    metric: str = Field("test_auc", min_length=1)
    min_accuracy: float = Field(0.5, ge=0, le=1)
    min_auc: float = Field(0.5, ge=0, le=1)
    drift_tolerance: float = Field(0.05, ge=0, le=1)
    # Feature drift compares the training window with this many latest sessions (`serving.drift`).
    drift_sessions: int = Field(60, ge=20, le=5000)
    # The gate that refuses a coin (`sensex.registry.gate`), on rows scored alike for every model:
    min_probability_sd: float = Field(0.01, ge=0)  # P(UP) must vary at least this much (sd) on those rows
    brier_below_always_up: bool = True  # Brier must be strictly below always-UP's on those rows
    auc_above_naive: bool = True  # the AUC interval must not lie entirely at or below the best naive baseline's AUC
    # Neither AUC nor Brier may be worse than the best learned baseline's beyond the paired interval:
    not_worse_than_baselines: bool = True
    range_beats_ewma: bool = True  # a range part's QLIKE must be strictly below EWMA's on those rows


SECTION_MODELS: dict[str, type[BaseModel]] = {
    "features": FeatureConfig, "model": ModelConfig, "train": TrainConfig, "promotion": PromotionConfig,
}


class Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = "quick"
    features: FeatureConfig = FeatureConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    promotion: PromotionConfig = PromotionConfig()

    @model_validator(mode="before")
    @classmethod
    def _empty_sections(cls, data: object) -> object:
        # `model:` with nothing under it is an empty section (all defaults), as it always was.
        if isinstance(data, dict):
            return {key: ({} if key in SECTION_MODELS and value is None else value) for key, value in data.items()}
        return data

    def to_dict(self) -> dict:
        return self.model_dump()

    def flat(self) -> dict[str, object]:
        """`section.key -> value`, for MLflow params."""
        out: dict[str, object] = {"name": self.name}
        for section in SECTION_MODELS:
            for key, value in getattr(self, section).model_dump().items():
                out[f"{section}.{key}"] = value
        return out

    def with_train(self, **fields: object) -> Config:
        """The config with `train` fields replaced (a seed, the threads, the workers)."""
        return self.model_copy(update={"train": self.train.model_copy(update=fields)})

    def with_segments(self, **ends: str | None) -> Config:
        """The config with segment end dates (`train_end=...`) replaced, validated like a preset's."""
        given = {k: v for k, v in ends.items() if v}
        if not given:
            return self
        for key, value in given.items():
            given[key] = dates.parse(value, "--" + key.replace("_", "-")).isoformat()
        train = _validated(TrainConfig, {**self.train.model_dump(), **given}, "Segment dates")
        return self.model_copy(update={"train": train})


def check_threshold(value: float | None, name: str = "--min-accuracy") -> float | None:
    """A gate threshold given on the command line: None (use the config's) or a finite number in [0, 1]."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or not 0 <= value <= 1:
        raise ConfigError(f"{name} {value!r} is not a threshold: give a number between 0 and 1, such as 0.55.")
    return float(value)


def _sentence(error: ValidationError, where: str) -> str:
    """The first problem of a failed validation as one sentence naming the place and the field."""
    first = error.errors(include_url=False)[0]
    loc, kind = tuple(first["loc"]), first["type"]
    field = ".".join(str(part) for part in loc) or "the top level"
    if kind == "extra_forbidden":
        parent = Config if len(loc) == 1 else SECTION_MODELS.get(str(loc[0]))
        allowed = ", ".join(parent.model_fields) if parent is not None else ""
        return f"{where}: unknown key {field}; allowed there are {allowed}."
    if kind == "model_type" or kind == "dict_type":
        return f"{where}: {field} must be a mapping of keys to values, not {type(first['input']).__name__}."
    reason = first["msg"].removeprefix("Value error, ")
    reason = reason[:1].lower() + reason[1:]
    return f"{where}: {field} = {first['input']!r} is not allowed ({reason}); fix the value."


SEGMENT_DATES = ("train_end", "valid_end", "test_end")


def _validated(cls: type[BaseModel], data: object, where: str):
    try:
        return cls.model_validate(data)
    except ValidationError as error:
        loc = error.errors(include_url=False)[0]["loc"]
        # A bad date is a DateError wherever it is given (CLI, API, config): one type to catch.
        kind = DateError if loc and str(loc[-1]) in SEGMENT_DATES else ConfigError
        raise kind(_sentence(error, where)) from None


def config_from_dict(data: dict, name: str, where: str = "config") -> Config:
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must be a mapping of sections (features, model, train, promotion), "
                          f"not {type(data).__name__}: write it as `section: {{key: value}}` lines.")
    return _validated(Config, {"name": name, **data}, where)


def _parse(text: str, where: str) -> object:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or "not valid YAML"
        # safe_load refuses tags such as !!python/object: data only, nothing that runs code.
        problem = " ".join(str(problem).split())
        raise ConfigError(f"{where} cannot be read{line} ({problem}): write plain YAML keys and values.") from None
    if data is None:
        raise ConfigError(f"{where} is empty: write the sections to change (features, model, train, promotion) or use a preset.")
    return data


def load_config(preset: str | Path = "quick") -> Config:
    """A preset name shipped with the package (quick, full, walkforward) or a path to a YAML file."""
    path = Path(preset)
    if path.suffix in (".yaml", ".yml"):
        where = f"Config file {path}"
        if not path.is_file():
            raise ConfigError(f"{where} does not exist: pass a preset (quick, full, walkforward) or an existing YAML file.")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigError(f"{where} cannot be read ({error}): check that it is a readable text file.") from None
        name = path.stem
    else:
        resource = resources.files("sensex.models") / "presets" / f"{preset}.yaml"
        if not resource.is_file():
            raise ConfigError(f"Unknown preset {preset!r}: use quick, full, walkforward, or a path to a YAML file.")
        where, text, name = f"Preset {preset}", resource.read_text(encoding="utf-8"), str(preset)
    data = _parse(text, where)
    return config_from_dict(data, name, where)
