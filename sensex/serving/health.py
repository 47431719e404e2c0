"""The server's health check: the seed's `health_check()` shape, every check reported, never raised."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np

from sensex.core.errors import NoProductionModel
from sensex.core.redaction import redact_text
from sensex.data import store
from sensex.market import exchanges

if TYPE_CHECKING:
    from sensex.serving.model_server import ModelServer


def health_check(server: ModelServer) -> dict:
    checks = {"model_loaded": False, "model_inference": False, "cache_healthy": False, "data_fresh": False,
              "model_current": False}
    detail: dict = {}
    try:
        info, bundle, loaded_at = server._current()
        checks["model_loaded"] = True
        probe = np.zeros((1, bundle.window, len(bundle.symbols), bundle.scaler.n_channels), np.float32)
        checks["model_inference"] = bool(np.isfinite(bundle.logits(probe)).all())
    except Exception as exc:  # health must report, never raise
        detail["model"] = redact_text(str(exc))
        if isinstance(exc, NoProductionModel) and server._fallback_bundle() is not None:
            detail["fallback"] = "no model passed the promotion gate: forecasts come from the labelled baseline"
    try:
        server.cache.set("health:probe", 1, 5)
        checks["cache_healthy"] = server.cache.get("health:probe") == 1
        detail["cache"] = server.cache.stats()
    except Exception as exc:
        detail["cache"] = redact_text(str(exc))
    meta = store.read_meta(server.settings.store_dir)
    if meta:
        checks["data_fresh"] = not exchanges.is_stale(server.universe.exchange, meta.get("last_date"))
        detail["data"] = {"last_date": meta.get("last_date"), "source": meta.get("source")}
    else:
        detail["data"] = "no data stored: run `sensex data update`"
    # The served model is the registry's production one and the registry answers; otherwise
    # `serving` says why (tracking server down, a refused new version, a moved alias).
    notes = dict(server.notes)
    checks["model_current"] = checks["model_loaded"] and not notes
    if notes:
        detail["serving"] = {kind: redact_text(note) for kind, note in notes.items()}
    if not (checks["model_loaded"] and checks["model_inference"]):
        status = "unhealthy"
    elif all(checks.values()):
        status = "healthy"
    else:
        status = "degraded"
    return {
        "status": status, "checks": checks, "detail": detail,
        "model_version": server.model_info["version"] if server.model_info else None,
        "loaded_at": server.loaded_at,
        "reason": next(iter(notes.values()), None) if status != "healthy" and notes else None,
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
    }
