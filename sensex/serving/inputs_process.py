"""A model's inputs computed in a worker process, for the API (`serving.worker_process`).

Only what the computation needs crosses: the settings, the universe and `InputsSpec` (the
bundle's window, metadata and scaler, not its ONNX session). Errors come back as the same
one-sentence errors.
"""

from __future__ import annotations

from dataclasses import dataclass

from sensex.core.settings import Settings
from sensex.features.windows import Scaler
from sensex.market.universe import Universe
from sensex.models.bundle import BundleMeta
from sensex.serving.window_cache import LatestInputs
from sensex.serving.worker_process import WorkerProcess, follow_home

WORKER = WorkerProcess("forecast inputs")


@dataclass(frozen=True)
class InputsSpec:
    """What computing a model's inputs needs from its bundle (`inputs.computed_inputs` reads only
    these), without the ONNX session that cannot leave the process."""

    window: int
    meta: BundleMeta
    scaler: Scaler


def _compute(settings: Settings, universe: Universe, spec: InputsSpec, as_of: str | None) -> LatestInputs:
    from sensex.serving.inputs import computed_inputs  # in the worker: pandas and TA-Lib live there

    follow_home(str(settings.home))
    return computed_inputs(settings, universe, spec, as_of)


def shutdown() -> None:
    WORKER.shutdown()


def computed_elsewhere(settings: Settings, universe: Universe, bundle, as_of: str | None) -> LatestInputs:
    """`inputs.computed_inputs` of `bundle`, computed in the worker process."""
    spec = InputsSpec(bundle.window, bundle.meta, bundle.scaler)
    return WORKER.run(_compute, settings, universe, spec, as_of)
