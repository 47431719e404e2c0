"""Whether a model learnt from the kind of prices the store holds now.

The store holds real prices (Yahoo Finance, CSV imports) or the built-in SYNTHETIC market, never
both, and `sensex data update --source ... --replace` switches it under the production models. A
model that learnt one kind answers for the other without knowing it, so /health, the forecast,
the model card and the update itself say so, each with the sentence written here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sensex.market.modes import CLOSE, MODES, registered_model

if TYPE_CHECKING:
    from sensex.core.settings import Settings
    from sensex.market.universe import Universe
    from sensex.models.bundle import Bundle
    from sensex.serving.served import Served

SYNTHETIC, REAL = "SYNTHETIC", "real"


def kind(synthetic: bool) -> str:
    return SYNTHETIC if synthetic else REAL


def trained_kind(model_data: dict | None) -> str | None:
    """The kind of prices a model learnt from (its bundle's `data` fingerprint); None when unrecorded."""
    synthetic = (model_data or {}).get("synthetic")
    return None if synthetic is None else kind(bool(synthetic))


def matches(model_data: dict | None, store_meta: dict | None) -> bool | None:
    """Whether the store holds the kind of prices the model learnt from; None when either is unknown."""
    trained = trained_kind(model_data)
    if trained is None or not store_meta:
        return None
    return trained == kind(bool(store_meta.get("synthetic")))


def retrain_flag(mode: str, universe: Universe) -> str:
    """The CLI options naming a model's mode and universe in advice ("" for the SENSEX close model)."""
    return ("" if mode == CLOSE else f" --mode {mode}") + ("" if universe.is_default else f" --universe {universe.spec}")


def retrain_advice(flags: list[str]) -> str:
    """`retrain with ...`: the commands that retrain and promote each model named by its `retrain_flag`."""
    return "retrain with " + ", and ".join(f"`sensex train{flag}` then `sensex registry setup{flag}`" for flag in flags)


def trained_on_other_data(bundle: Bundle | None, store_meta: dict | None, flag: str = "") -> str | None:
    """A sentence when the served model learnt from real prices and the store now holds synthetic
    ones, or the reverse; None when they agree or either is unknown. `flag`: `retrain_flag`."""
    model_data = bundle.meta.data if bundle is not None else None
    if matches(model_data, store_meta) is not False:
        return None
    return (f"The production model was trained on {trained_kind(model_data)} prices but the store now holds"
            f" {kind(bool(store_meta.get('synthetic')))} ones: {retrain_advice([flag])}.")


def served_fields(server: Served, bundle: Bundle | None, store_meta: dict | None = None) -> dict:
    """`data_matches_model` (None when unknown) and `data_warning` (the sentence, or None) of a
    server's model against its store (`store_meta` when the caller read it already): what the
    forecast and the model card carry."""
    from sensex.data import store

    meta = store_meta if store_meta is not None else store.read_meta(server.settings.store_dir) or {}
    model_data = bundle.meta.data if bundle is not None else None
    return {"data_matches_model": matches(model_data, meta),
            "data_warning": trained_on_other_data(bundle, meta, retrain_flag(server.mode, server.universe))}


def production_warning(settings: Settings, universe: Universe) -> str | None:
    """One sentence when any production model of `universe` (one per mode) learnt from another
    kind of prices than the store now holds, None otherwise. Reads the production pointers and
    their bundles' descriptions only (no MLflow): what the servers of this home serve."""
    from sensex.data import store

    meta = store.read_meta(settings.store_dir)
    if not meta:
        return None
    stale = [(mode, data) for mode in MODES if matches(data := _production_data(settings, mode, universe), meta) is False]
    if not stale:
        return None
    modes = " and ".join(str(mode) for mode, _ in stale)
    models = f"production {modes} model{'s were' if len(stale) > 1 else ' was'}"
    return (f"Warning: the {models} trained on {trained_kind(stale[0][1])} prices but the store now holds"
            f" {kind(bool(meta.get('synthetic')))} ones: {retrain_advice([retrain_flag(m, universe) for m, _ in stale])}.")


def _production_data(settings: Settings, mode: str, universe: Universe) -> dict | None:
    """The `data` fingerprint of the mode's production bundle, None without one (or a readable one)."""
    from sensex.core.errors import SensexError
    from sensex.models.bundle import META_FILE, BundleMeta, bundle_files
    from sensex.registry.pointer import read_pointer

    try:
        pointer = read_pointer(settings, registered_model(mode, universe.key))
        if pointer is None:
            return None
        return BundleMeta.from_json(bundle_files(pointer.bundle_dir(settings))[META_FILE].read_text()).data
    except (SensexError, OSError, ValueError, TypeError, KeyError):
        # A damaged pointer or bundle is for the server to report and fetch again; the update
        # has nothing to say about a model it cannot read.
        return None
