"""`$SENSEX_HOME/daily.yaml`: the daily job's retraining schedule and what it trains."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sensex.core.errors import ConfigError
from sensex.jobs.modes import get_mode

DAILY_CONFIG = "daily.yaml"


class DailyConfig(BaseModel):
    """`$SENSEX_HOME/daily.yaml` (optional): the retraining schedule and what to train."""

    model_config = ConfigDict(extra="forbid")

    retrain_every_sessions: int = Field(
        0, ge=0, description="Retrain once this many sessions have passed since the production model's data"
        " ended (or the last retrain); 0: only when drift says retrain.")
    retrain_on_drift: bool = Field(True, description="Retrain when drift's severity is `retrain`.")
    retrain_cooldown_sessions: int = Field(
        20, ge=0, description="After a retrain (promoted or refused), feature or live drift retrains again only"
        " once this many sessions have passed; performance drift retrains at once.")
    preset: str = Field("quick", description="Training preset (name or YAML path); its `promotion` section is the gate.")
    model: str = Field("convlstm", description="Network to train: convlstm | lstm.")
    modes: list[str] | None = Field(None, description="Modes to run (default: every mode with a production model).")


def load_daily_config(home: Path) -> DailyConfig:
    path = home / DAILY_CONFIG
    if not path.is_file():
        return DailyConfig()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(data, dict):
            raise ConfigError(f"{path} must be a mapping (retrain_every_sessions, preset, model, modes): fix the file.")
        config = DailyConfig.model_validate(data)
    except yaml.YAMLError:
        raise ConfigError(f"{path} is not valid YAML: fix its syntax.") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise ConfigError(f"{path}: {where}: {err['msg'].rstrip('.')}: fix that field (see docs/operations.md, the daily job).") from None
    for name in config.modes or ():
        get_mode(name)  # an unknown mode is a ConfigError now, not a failure later
    return config
