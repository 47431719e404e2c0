"""The forecast modes the daily job runs: one entry per mode of `sensex.market.modes` (`close`, `preopen`),
each with its registered model and how to forecast, check drift and train for it. The daily job
forecasts for every mode whose registered model has a production version.

A pre-open forecast for session t+1 needs the S&P 500 close of t, which exists only after about
02:30 IST on t+1: an evening run finds it missing and leaves that forecast `waiting` (not failed);
a run before the BSE open (the second timer in docs/operations.md) makes it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sensex.core.settings import Settings
from sensex.market.modes import MODES, Mode, check_mode, registered_model
from sensex.models.config import PromotionConfig


@dataclass(frozen=True)
class ModeJobs:
    """What the daily job does for one mode. A class so a test can replace one step (a forecast
    that waits, a drift report) by subclassing."""

    mode: Mode

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", check_mode(self.mode))  # a str is accepted and checked

    @property
    def name(self) -> str:
        return self.mode.value

    @property
    def waits_for_overnight(self) -> bool:
        return self.mode.waits_for_overnight

    def model_name(self, universe_key: str) -> str:
        """The registered model in MLflow whose `production` alias serves this mode for a universe."""
        return registered_model(self.mode, universe_key)

    def registry(self, settings: Settings, promotion: PromotionConfig | None = None):
        from sensex.serving import ModelRegistry

        return ModelRegistry(settings, promotion=promotion, mode=self.mode)

    def forecast(self, settings: Settings, as_of: str) -> dict:
        from sensex.serving.model_server import ModelServer

        return ModelServer(settings, mode=self.mode).predict(as_of)

    def drift(self, settings: Settings, promotion: PromotionConfig | None = None) -> dict:
        """The three-part drift report of this mode's served model (`ModelServer.drift`): the same
        report as `sensex registry drift`, `GET /drift` and the dashboard, so they never disagree."""
        from sensex.serving.model_server import ModelServer

        return ModelServer(settings, mode=self.mode).drift(promotion=promotion)

    def train(self, settings: Settings, preset: str, model: str) -> dict:
        from sensex.jobs import commands

        return commands.train(settings, preset, model, mode=self.mode, trigger="daily")


def get_mode(name: str) -> ModeJobs:
    return ModeJobs(check_mode(name))  # a ConfigError names the modes for anything else


def all_modes() -> list[ModeJobs]:
    return [ModeJobs(mode) for mode in MODES]
