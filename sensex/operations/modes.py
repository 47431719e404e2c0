"""The forecast modes the daily job runs, by name.

Today there is one, `close` (issued after BSE's close on session t for close(t+1) > close(t)),
served by the registered model `sensex-convlstm-model`. A new mode (the pre-open forecast) is one
more entry in `MODES`: its registered model name and how to forecast, check drift and train for it.
The daily job forecasts for every mode here whose registered model has a production version.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sensex.config import PromotionConfig
from sensex.settings import Settings


def _close_forecast(settings: Settings, as_of: str) -> dict:
    from sensex.serving.model_server import ModelServer

    return ModelServer(settings).predict(as_of)


def _close_drift(settings: Settings) -> dict:
    from sensex import commands

    return commands.drift(settings)


def _close_train(settings: Settings, preset: str, model: str) -> dict:
    from sensex import commands

    return commands.train(settings, preset, model)


@dataclass(frozen=True)
class Mode:
    name: str
    model_name: str  # the registered model in MLflow whose `production` alias serves this mode
    forecast: Callable[[Settings, str], dict]  # (settings, as_of) -> the Forecast dict
    drift: Callable[[Settings], dict]  # -> `sensex registry drift --json`
    train: Callable[[Settings, str, str], dict]  # (settings, preset, model kind) -> `sensex train --json`

    def registry(self, settings: Settings, promotion: PromotionConfig | None = None):
        from sensex.serving.model_registry import ModelRegistry

        return ModelRegistry(settings, model_name=self.model_name, promotion=promotion)


def _modes() -> dict[str, Mode]:
    from sensex.serving.model_registry import MODEL_NAME

    return {"close": Mode("close", MODEL_NAME, _close_forecast, _close_drift, _close_train)}


DEFAULT_MODE = "close"


def get_mode(name: str) -> Mode:
    modes = _modes()
    if name not in modes:
        from sensex.errors import ConfigError

        raise ConfigError(f"Unknown mode {name!r}: use one of {', '.join(modes)}.")
    return modes[name]


def all_modes() -> list[Mode]:
    return list(_modes().values())
