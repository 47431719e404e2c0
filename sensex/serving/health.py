"""The server's health check: the original design's `health_check()` shape, every check reported, never raised."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from sensex.core.advice import update_advice
from sensex.core.errors import NoProductionModel, SensexError
from sensex.core.redaction import redact_text
from sensex.data import store
from sensex.market import exchanges
from sensex.serving import data_match
from sensex.serving.served import Served


def health_check(server: Served) -> dict:
    """Every check with its detail; `degraded` and `unhealthy` always carry a `reason`. Total: a
    damaged data file is a `degraded` report with its sentence, and so is a cache that held
    entries that were not what their keys hold."""
    problem = store.problem(server.settings.store_dir)
    if problem is not None:
        return _store_failed_report(server, problem)
    try:
        report = _checks(server)
    except SensexError as exc:  # a file the check reads went bad meanwhile
        return _store_failed_report(server, str(exc))
    rejections = _cache_rejections(server)
    if rejections and rejections.get("rejected"):
        report["detail"]["cache_rejections"] = rejections
    cache_problem = _cache_problem(server, rejections)
    if cache_problem is not None:
        report["checks"]["cache_consistent"] = False
        report["detail"]["cache_problem"] = cache_problem
        if report["status"] == "healthy":
            report["status"] = "degraded"
        report["reason"] = report.get("reason") or cache_problem
    return report


# Whether a model (by its ONNX file's hash) answered a finite logit for a window of zeros. A loaded
# model's answer to the same input never changes, and the probe cost most of a health check (a
# load balancer asks every few seconds; under load, at every request to /health).
_probed: dict[str, bool] = {}


def _answers(bundle) -> bool:
    key = bundle.meta.onnx_sha256
    if key not in _probed:
        probe = np.zeros((1, bundle.window, len(bundle.symbols), bundle.scaler.n_channels), np.float32)
        _probed[key] = bool(np.isfinite(bundle.logits(probe)).all())
    return _probed[key]


def _checks(server: Served) -> dict:
    checks = {"model_loaded": False, "model_inference": False, "cache_healthy": False, "data_fresh": False,
              "model_current": False}
    detail: dict = {}
    reasons: list[str] = []
    bundle = None
    try:
        info, bundle, loaded_at = server._current()
        checks["model_loaded"] = True
        checks["model_inference"] = _answers(bundle)
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
        mismatch = data_match.trained_on_other_data(bundle, meta, data_match.retrain_flag(server.mode, server.universe))
        if mismatch:  # said first: stale data is common, a model serving other prices is not
            checks["data_matches_model"] = False
            detail["data"]["model_trained_on"] = data_match.trained_kind(bundle.meta.data).lower()
            reasons.append(mismatch)
        if not checks["data_fresh"]:
            reasons.append(f"The stored data ends {meta.get('last_date')}, before the last completed session:"
                           f" {update_advice()}.")
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


def _cache_rejections(server: Served) -> dict | None:
    try:
        return server.cache.rejections()
    except Exception:  # noqa: BLE001 - a cache without the count (a test double) has nothing to report
        return None


def _cache_problem(server: Served, rejections: dict | None) -> str | None:
    """A sentence while the cache has recently held entries that were not what their keys hold."""
    if not rejections or not rejections.get("rejected_recently"):
        return None
    last = rejections.get("last_rejected") or {}
    where = "the cache"
    try:
        stats = server.cache.stats()
        if stats.get("backend") == "redis":
            where = f"Redis at {stats.get('url')}"
    except Exception:  # noqa: BLE001 - the health check reports an unreachable cache itself
        pass
    return (f"{where} held {rejections.get('rejected')} entries that were not what their keys hold (the last:"
            f" {last.get('key')}, {last.get('reason')}); they were deleted and computed again: check what else"
            " writes there.")


def _store_failed_report(server: Served, reason: str) -> dict:
    """The health report when the store cannot be read: the model's own state, the store's sentence."""
    bundle = server.bundle
    inference = False
    if bundle is not None:
        try:
            probe = np.zeros((1, bundle.window, len(bundle.symbols), bundle.scaler.n_channels), np.float32)
            inference = bool(np.isfinite(bundle.logits(probe)).all())
        except Exception:  # noqa: BLE001 - health reports, never raises
            inference = False
    checks = {"model_loaded": bundle is not None, "model_inference": inference, "cache_healthy": False,
              "data_fresh": False, "model_current": bundle is not None and not server.notes, "store_readable": False}
    detail: dict = {"data": reason}
    try:
        detail["cache"] = server.cache.stats()
        checks["cache_healthy"] = bool(detail["cache"].get("available"))
    except Exception as exc:  # noqa: BLE001
        detail["cache"] = redact_text(str(exc))
    info = server.model_info or {}
    return {"status": "degraded" if checks["model_loaded"] and inference else "unhealthy", "checks": checks,
            "detail": detail, "model_version": info.get("version"), "loaded_at": server.loaded_at,
            "reason": reason, "timestamp": datetime.now(UTC).isoformat(timespec="seconds")}
