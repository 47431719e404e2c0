"""The labelled baseline that forecasts while no model is in production: the newest registered
version whose bundle carries its fitted baselines (`ModelRegistry.fallback_bundle`). The
registry's version list and the bundles already fetched under cache/models answer without
MLflow; MLflow is asked only for a version whose bundle was never fetched (or a store only it
can read)."""

from __future__ import annotations

from sensex.core.errors import SensexError
from sensex.core.settings import Settings
from sensex.market.modes import registered_model
from sensex.models.bundle import Bundle, load_bundle
from sensex.registry.probe import registered_versions


def find(settings: Settings, mode: str, universe_key: str) -> tuple[dict, Bundle] | None:
    """(info, bundle) of the fallback; None when nothing is registered or no version has baselines."""
    versions = registered_versions(settings, registered_model(mode, universe_key))
    if versions == []:
        return None  # nothing registered, so no baseline either (asked again next time: cheap)
    found = fetched(settings, mode, universe_key, versions) if versions else None
    if found is None:
        from sensex.registry.model_registry import (
            ModelRegistry,  # imports MLflow: only when the local bundles do not answer
        )

        found = ModelRegistry(settings, mode=mode).fallback_bundle()
    return found


def fetched(settings: Settings, mode: str, universe_key: str, versions) -> tuple[dict, Bundle] | None:
    """The newest version with fitted baselines, from bundles fetched already; None as soon as
    one to look at is missing or fails its checks (MLflow then fetches and judges it)."""
    for target in versions:  # newest first
        directory = settings.cache_dir / "models" / target.run_id
        if not target.run_id or not directory.is_dir():
            return None
        try:
            bundle = load_bundle(directory)
        except SensexError:
            return None
        if bundle.meta.baselines and bundle.meta.uncertainty.get("fallback"):
            info = {"version": target.version, "run_id": target.run_id, "name": registered_model(mode, universe_key)}
            return info, bundle
    return None
