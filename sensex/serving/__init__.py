"""Loading and serving forecasts. The original design's names live here: ModelRegistry, ModelServer,
RealtimeDataFetcher.

Attributes load lazily so that `import sensex.serving` stays cheap and never imports torch.
"""

from __future__ import annotations

__all__ = ["ModelRegistry", "ModelServer", "RealtimeDataFetcher"]


def __getattr__(name: str):
    if name == "ModelRegistry":
        from sensex.serving.model_registry import ModelRegistry

        return ModelRegistry
    if name == "ModelServer":
        from sensex.serving.model_server import ModelServer

        return ModelServer
    if name == "RealtimeDataFetcher":
        from sensex.data.realtime_data import RealtimeDataFetcher

        return RealtimeDataFetcher
    raise AttributeError(name)
