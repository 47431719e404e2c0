"""The forecast modes the daily job runs: one entry per mode of `sensex.modes` (`close`, `preopen`),
each with its registered model and how to forecast, check drift and train for it. The daily job
forecasts for every mode whose registered model has a production version.

A pre-open forecast for session t+1 needs the S&P 500 close of t, which exists only after about
02:30 IST on t+1: an evening run finds it missing and leaves that forecast `waiting` (not failed);
a run before the BSE open (see the README's second timer) makes it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sensex import modes as forecast_modes
from sensex.config import PromotionConfig
from sensex.settings import Settings

DEFAULT_MODE = forecast_modes.DEFAULT_MODE


@dataclass(frozen=True)
class Mode:
    name: str

    @property
    def model_name(self) -> str:
        """The registered model in MLflow whose `production` alias serves this mode."""
        return forecast_modes.registered_model(self.name)

    @property
    def waits_for_overnight(self) -> bool:
        """True when its forecast needs data that closes overnight (the S&P 500 for `preopen`)."""
        return self.name == forecast_modes.PREOPEN

    def registry(self, settings: Settings, promotion: PromotionConfig | None = None):
        from sensex.serving.model_registry import ModelRegistry

        return ModelRegistry(settings, promotion=promotion, mode=self.name)

    def forecast(self, settings: Settings, as_of: str) -> dict:
        from sensex.serving.model_server import ModelServer

        return ModelServer(settings, mode=self.name).predict(as_of)

    def drift(self, settings: Settings, promotion: PromotionConfig | None = None) -> dict:
        """The three-part drift report of this mode's served model (`ModelServer.drift`): the same
        report as `sensex registry drift`, `GET /drift` and the dashboard, so they never disagree."""
        from sensex.serving.model_server import ModelServer

        return ModelServer(settings, mode=self.name).drift(promotion=promotion)

    def train(self, settings: Settings, preset: str, model: str) -> dict:
        from sensex import commands

        return commands.train(settings, preset, model, mode=self.name)


def get_mode(name: str) -> Mode:
    return Mode(forecast_modes.check_mode(name))  # a ConfigError names the modes for anything else


def all_modes() -> list[Mode]:
    return [Mode(name) for name in forecast_modes.MODES]
