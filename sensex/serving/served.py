"""What the model server's views and health check read of it: the served model, its settings,
universe, cache and notes. A protocol, so `views` and `health` depend on this shape rather than on
`model_server`, which imports them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from sensex.core.settings import Settings
    from sensex.market.universe import Universe
    from sensex.models.bundle import Bundle
    from sensex.serving.window_cache import LatestInputs


class Served(Protocol):
    settings: Settings
    universe: Universe
    mode: str
    cache: Any
    notes: dict[str, str]
    compute_elsewhere: bool
    _closes: Any

    @property
    def bundle(self) -> Bundle | None: ...

    @property
    def model_info(self) -> dict | None: ...

    @property
    def loaded_at(self) -> str | None: ...

    def _current(self) -> tuple[dict, Bundle, str]: ...

    def _latest_inputs(self, bundle: Bundle, as_of: str | None) -> LatestInputs: ...

    def _fallback_bundle(self) -> tuple[dict, Bundle] | None: ...
