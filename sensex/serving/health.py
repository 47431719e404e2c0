"""The server's health check: the original design's `health_check()` shape, every check reported, never raised."""

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
    """Every check with its detail; `degraded` and `unhealthy` always carry a `reason`."""
    checks = {"model_loaded": False, "model_inference": False, "cache_healthy": False, "data_fresh": False,
              "model_current": False}
    detail: dict = {}
    reasons: list[str] = []
    bundle = None
    try:
        info, bundle, loaded_at = server._current()
        checks["model_loaded"] = True
        probe = np.zeros((1, bundle.window, len(bundle.symbols), bundle.scaler.n_channels), np.float32)
        checks["model_inference"] = bool(np.isfinite(bundle.logits(probe)).all())
        if not checks["model_inference"]:
            reasons.append("The production model answers NaN or infinity: retrain it.")
    except Exception as exc:  # health must report, never raise
        detail["model"] = redact_text(str(exc))
        reasons.append(detail["model"])
        if isinstance(exc, NoProductionModel) and server._fallback_bundle() is not None:
            detail["fallback"] = "no model passed the promotion gate: forecasts come from the labelled baseline"
    try:
        server.cache.set("health:probe", 1, 5)
        checks["cache_healthy"] = server.cache.get("health:probe") == 1
        detail["cache"] = server.cache.stats()
    except Exception as exc:
        detail["cache"] = redact_text(str(exc))
    if not checks["cache_healthy"]:
        reasons.append(f"The cache does not answer ({detail['cache']}): check SENSEX_REDIS_URL and the Redis server.")
    meta = store.read_meta(server.settings.store_dir)
    if meta:
        checks["data_fresh"] = not exchanges.is_stale(server.universe.exchange, meta.get("last_date"))
        detail["data"] = {"last_date": meta.get("last_date"), "source": meta.get("source")}
        if not checks["data_fresh"]:
            reasons.append(f"The stored data ends {meta.get('last_date')}, before the last completed session: run"
                           " `sensex data update` (offline: `sensex data update --source csv --csv-dir DIR` with"
                           " newer CSV files).")
        mismatch = _trained_on_other_data(bundle, meta)
        if mismatch:
            checks["data_matches_model"] = False
            detail["data"]["model_trained_on"] = "synthetic" if bundle.meta.data.get("synthetic") else "real"
            reasons.append(mismatch)
    else:
        detail["data"] = "no data stored: run `sensex data update`"
        reasons.append("No data is stored: run `sensex data update`.")
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
    reasons = [redact_text(note) for note in notes.values()] + reasons
    return {
        "status": status, "checks": checks, "detail": detail,
        "model_version": server.model_info["version"] if server.model_info else None,
        "loaded_at": server.loaded_at,
        "reason": reasons[0] if status != "healthy" and reasons else None,
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _trained_on_other_data(bundle, meta: dict) -> str | None:
    """A sentence when the served model learnt from real prices and the store now holds synthetic
    ones, or the reverse (`sensex data update --source ... --replace`); None when they agree."""
    trained = (bundle.meta.data or {}).get("synthetic") if bundle is not None else None
    if trained is None or bool(trained) == bool(meta.get("synthetic")):
        return None
    kinds = ("SYNTHETIC", "real") if trained else ("real", "SYNTHETIC")
    return (f"The production model was trained on {kinds[0]} prices but the store now holds {kinds[1]} ones:"
            " retrain with `sensex train`, then `sensex registry setup`.")
