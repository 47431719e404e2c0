"""The store's data status: the quality report of what is stored for a universe, with where the
data came from. One report for every shell: `sensex data status`, `GET /data/quality` and the
dashboard's monitoring page show the same object."""

from __future__ import annotations

import pandas as pd

from sensex.core.settings import Settings
from sensex.data import quality, store
from sensex.market.universe import Universe


def data_status(settings: Settings, universe: Universe, frame: pd.DataFrame | None = None) -> dict:
    """`quality.validate_data_quality` of the store (or of `frame`), with the universe, the store's
    metadata and whether its prices are synthetic."""
    frame = store.read(settings.store_dir) if frame is None else frame
    meta = store.read_meta(settings.store_dir) or {}
    report = quality.validate_data_quality(frame, universe, source=meta.get("source"))
    report["universe"] = universe.key
    report["store"] = {k: meta.get(k) for k in ("source", "fetched_at", "rows", "first_date", "last_date", "content_hash")}
    report["synthetic"] = bool(meta.get("synthetic"))
    return report
