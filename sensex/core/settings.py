"""Settings from the environment, typed and validated by pydantic-settings; nothing happens at import.

Each field reads one environment variable (DESIGN.md's contract): SENSEX_HOME, MLFLOW_TRACKING_URI,
SENSEX_DATA_SOURCE, SENSEX_CSV_DIR, SENSEX_REDIS_URL, SENSEX_REDIS_PREFIX, SENSEX_API_URL, SENSEX_UNIVERSE,
SENSEX_RELOAD_SECONDS. An empty
value counts as unset. A bad value is a ConfigError of one sentence, never a pydantic dump.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal, get_args

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from sensex.core.errors import ConfigError

DataSource = Literal["auto", "yfinance", "csv", "synthetic"]
SOURCES: tuple[str, ...] = get_args(DataSource)


def _default_home() -> Path:
    return Path.home() / ".sensex"


class Settings(BaseSettings):
    """`Settings()` reads the process environment; `load_settings(env)` validates a given mapping."""

    model_config = SettingsConfigDict(
        frozen=True,
        case_sensitive=True,
        env_ignore_empty=True,  # SENSEX_CSV_DIR= means unset, as it always has
        env_file=None,  # the environment only: no .env file is read behind the user's back
        extra="ignore",  # a mapping given to load_settings may hold every variable of a process
    )

    home: Path = Field(default_factory=_default_home, validation_alias="SENSEX_HOME")
    # Declared after `home`: its default is derived from it (validators see earlier fields).
    tracking_uri: str = Field(default="", validate_default=True, validation_alias="MLFLOW_TRACKING_URI")
    data_source: DataSource = Field(default="auto", validation_alias="SENSEX_DATA_SOURCE")
    csv_dir: Path | None = Field(default=None, validation_alias="SENSEX_CSV_DIR")
    redis_url: str | None = Field(default=None, validation_alias="SENSEX_REDIS_URL")
    redis_prefix: str = Field(default="sensex:", validation_alias="SENSEX_REDIS_PREFIX")
    api_url: str | None = Field(default=None, validation_alias="SENSEX_API_URL")
    # Which universe commands use without --universe: `sensex`, `nifty50` or a CSV path (`sensex.market.universe`).
    universe: str = Field(default="sensex", validation_alias="SENSEX_UNIVERSE")
    # How often a running API asks the registry whether the production alias moved (hot reload).
    reload_seconds: float = Field(default=30.0, gt=0, le=86400, validation_alias="SENSEX_RELOAD_SECONDS")

    @field_validator("home", "csv_dir")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        # Resolved once, so the CLI, the API and the app agree whatever their working directory.
        return value.expanduser().resolve() if value is not None else None

    @field_validator("tracking_uri", mode="before")
    @classmethod
    def _default_tracking_uri(cls, value: object, info: ValidationInfo) -> object:
        if value or "home" not in info.data:  # no home: its own error is the one reported
            return value
        return f"sqlite:///{info.data['home'] / 'mlflow.db'}"

    @property
    def store_dir(self) -> Path:
        return self.home / "store"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def artifacts_dir(self) -> Path:
        return self.home / "mlartifacts"

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"

    @property
    def holidays_dir(self) -> Path:
        return self.home / "holidays"


def _sentence(error: ValidationError) -> str:
    """The first problem of a failed validation as one sentence naming the variable."""
    first = error.errors()[0]
    name = str(first["loc"][0]) if first["loc"] else "the environment"
    value = first.get("input")
    if name == "SENSEX_DATA_SOURCE":
        return f"SENSEX_DATA_SOURCE={value!r} is not a source: use one of {', '.join(SOURCES)}."
    reason = first["msg"].removeprefix("Value error, ")
    return f"{name}={value!r} is not usable ({reason[:1].lower() + reason[1:]}): fix or unset it."


class _GivenSettings(Settings):
    """Settings from the mapping passed to the constructor only: the process environment is not read."""

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, **environment_sources):
        return (init_settings,)


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Settings from `env` when given (and from nothing else), otherwise from the process environment."""
    try:
        if env is None:
            return Settings()
        given = _GivenSettings(**{key: value for key, value in env.items() if value})  # empty = unset
    except ValidationError as error:
        raise ConfigError(_sentence(error)) from None
    # Already validated: the values become a plain Settings, equal to one read from the environment.
    return Settings.model_construct(**given.model_dump())


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings; tests that change the environment call `get_settings.cache_clear()`."""
    return load_settings()
