"""Settings from the environment, resolved once; nothing happens at import."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from sensex.errors import ConfigError

SOURCES = ("auto", "yfinance", "csv", "synthetic")


@dataclass(frozen=True)
class Settings:
    home: Path
    tracking_uri: str
    data_source: str
    csv_dir: Path | None
    redis_url: str | None
    redis_prefix: str
    api_url: str | None

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


def load_settings(env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ) if env is None else env
    home = Path(env.get("SENSEX_HOME") or Path.home() / ".sensex").expanduser().resolve()
    tracking_uri = env.get("MLFLOW_TRACKING_URI") or f"sqlite:///{home / 'mlflow.db'}"
    source = env.get("SENSEX_DATA_SOURCE") or "auto"
    if source not in SOURCES:
        raise ConfigError(
            f"SENSEX_DATA_SOURCE={source!r} is not a source: use one of {', '.join(SOURCES)}."
        )
    csv_dir = env.get("SENSEX_CSV_DIR")
    return Settings(
        home=home,
        tracking_uri=tracking_uri,
        data_source=source,
        csv_dir=Path(csv_dir).expanduser().resolve() if csv_dir else None,
        redis_url=env.get("SENSEX_REDIS_URL") or None,
        redis_prefix=env.get("SENSEX_REDIS_PREFIX") or "sensex:",
        api_url=env.get("SENSEX_API_URL") or None,
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings; tests that change the environment call `get_settings.cache_clear()`."""
    return load_settings()
