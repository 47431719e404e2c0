"""The model server: the production model on ONNX Runtime, forecasts with caching, health
checks and the prediction log. No torch in this process.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np

from sensex.core import jsonlog
from sensex.core.errors import (
    CorruptModelError,
    DataError,
    ModelNotFoundError,
    NoProductionModel,
    SensexError,
    storage_error,
)
from sensex.core.settings import Settings, get_settings
from sensex.data import store
from sensex.market import dates, exchanges
from sensex.market.modes import check_mode
from sensex.market.universe import Universe, load_universe
from sensex.models.bundle import Bundle
from sensex.models.portable import baseline_probabilities
from sensex.models.range_portable import expected_move, has_range
from sensex.serving import data_match, fallback, health, views, window_cache
from sensex.serving.assessment import assess
from sensex.serving.forecast import Forecast
from sensex.serving.forecast_clock import with_clock
from sensex.serving.member_forecasts import member_forecasts
from sensex.serving.window_cache import LatestInputs

if TYPE_CHECKING:  # a forecast of the latest session, from its cached window, never needs pandas
    import pandas as pd

log = logging.getLogger(__name__)

# One forecast computed at a time in this process. A computation holds the GIL for most of its
# ~25 ms (1,260 short TA-Lib calls, pandas), so a second one in parallel gains no throughput,
# while every thread fighting for the GIL delays the cached answers the event loop gives:
# `bench/load.py` (10% of the forecasts computed) measured the same throughput with one slot as with
# two, and cached p99 28-35 ms against 50-55 ms (one API process), 37-39 ms against 73-85 ms (two
# replicas). Each computation in flight also holds its own copy of the stored frame.
COMPUTE_SLOTS = threading.BoundedSemaphore(1)


class ModelServer:
    def __init__(self, settings: Settings | None = None, universe: Universe | None = None, cache=None,
                 mode: str | None = None):
        self.settings = settings or get_settings()
        self.mode = check_mode(mode)  # which registered model it serves (`sensex.market.modes`)
        self.universe = universe or load_universe(self.settings.universe)
        # The registry reads the universe from the settings: a universe given here is the one it serves.
        self.settings = self.settings.model_copy(update={"universe": self.universe.spec})
        self.cache_ttl = 300  # seconds a forecast is reused for the same model and data
        self._cache = cache
        # (info, bundle, loaded_at), replaced as one object: a request reads it once and never
        # sees one version's description with another's bundle (hot reload swaps it).
        self._served: tuple[dict, Bundle, str] | None = None
        self._lock = threading.Lock()
        self._fallback: tuple[dict, Bundle] | None = None  # the labelled baseline while nothing is in production
        self._latest: tuple[str, LatestInputs] | None = None  # the latest session's inputs, by cache key
        self._closes: tuple[str | None, pd.Series] | None = None  # the index closes, by store content hash
        self._held = None  # with a shared (Redis) cache: this process's own copies of forecasts it served
        self.notes: dict[str, str] = {}  # why serving is degraded though it forecasts (health says so)
        self._refused: tuple[str, str] | None = None  # the (version, run) hot reload refused last
        # The API computes new inputs and heavy views in worker processes (`serving.worker_process`):
        # a long feature or drift computation would otherwise stall its event loop. Others compute here.
        self.compute_elsewhere = False

    @property
    def cache(self):
        if self._cache is None:
            from sensex.core.cache import get_cache

            self._cache = get_cache(self.settings)
        return self._cache

    @property
    def bundle(self) -> Bundle | None:
        return self._served[1] if self._served else None

    @property
    def model_info(self) -> dict | None:
        return self._served[0] if self._served else None

    @property
    def loaded_at(self) -> str | None:
        return self._served[2] if self._served else None

    # -- loading -------------------------------------------------------------------------------
    def load_production_model(self) -> dict:
        """The production model from the pointer file and its local bundle (`serving.production`:
        no MLflow in this process), checked and smoke-tested before it serves."""
        from sensex.registry.production import locate

        located = locate(self.settings, self.mode)
        self._accept(located.info, located.bundle)
        self.notes.pop("pointer", None)
        if located.notes:
            self.notes["pointer"] = " ".join(located.notes)
        return self.model_info

    def _accept(self, info: dict, bundle: Bundle) -> None:
        """Refuse a model this server cannot serve; otherwise swap it in atomically."""
        name = info.get("name", "production")
        if bundle.meta.mode != self.mode:
            raise ModelNotFoundError(
                f"The production {name} model reads {bundle.meta.mode} data, not {self.mode}: retrain it"
                f" with `sensex train --mode {self.mode}`."
            )
        if bundle.symbols != self.universe.symbols:
            raise ModelNotFoundError(
                "The production model was trained on another member list than the current universe: retrain it."
            )
        bundle.session()  # build the ONNX session now, not on the first request
        self._smoke_test(bundle, info)
        with self._lock:
            self._served = (info, bundle, datetime.now(UTC).isoformat(timespec="seconds"))

    def _smoke_test(self, bundle: Bundle, info: dict) -> None:
        """One inference on the latest stored window: a model that fails it or answers NaN never
        serves. Only the model is judged: when the window itself cannot be prepared (no data, a
        damaged file) the model is run on a window of zeros instead, and health says why."""
        inputs = None
        try:
            inputs = self._latest_inputs(bundle, None)
            self.notes.pop("smoke", None)
        except DataError:
            pass  # no usable data yet: nothing to say beyond what the data checks say
        except Exception as exc:  # noqa: BLE001 - the data's fault, not the model's: judge the model alone
            self.notes["smoke"] = (f"The latest stored window could not be prepared ({type(exc).__name__}:"
                                   f" {str(exc)[:160]}): the model was checked on a window of zeros instead.")
        try:
            if inputs is not None:
                probability = bundle.probabilities(inputs.window, inputs.tabular)
            else:
                probe = np.zeros((1, bundle.window, len(bundle.symbols), bundle.scaler.n_channels), np.float32)
                probability = bundle.logits(probe)
        except Exception as exc:  # noqa: BLE001 - any failure of a candidate model is a refusal
            raise CorruptModelError(f"Version {info.get('version')} fails its smoke inference"
                                    f" ({type(exc).__name__}: {str(exc)[:160]}): fix or retrain it.") from None
        if not np.isfinite(np.asarray(probability, dtype=float)).all():
            raise CorruptModelError(f"Version {info.get('version')} answers NaN or infinity on the latest window:"
                                    " fix or retrain it.")

    def ensure_loaded(self) -> Bundle:
        return self._current()[1]

    def _current(self) -> tuple[dict, Bundle, str]:
        served = self._served
        if served is None:
            self.load_production_model()
            served = self._served
        return served

    def check_for_new_model(self) -> str | None:
        """Hot reload, called periodically by the API: when the production alias moved, load and
        smoke-test the new version and swap it in; a version that fails is refused (promotion
        log, `/health` degraded with the reason) and the served one stays. Returns what happened."""
        from sensex.registry.production import current_target

        served = self._served
        try:
            target = current_target(self.settings, self.mode)
        except ModelNotFoundError as exc:  # registry down, or an alias to a missing version
            if served is None:
                self.notes["registry"] = str(exc)
                return None
            self.notes["registry"] = f"{exc} Version {served[0]['version']} keeps serving."
            return None
        self.notes.pop("registry", None)
        if target is None:
            if served is not None:
                self.notes["registry"] = (f"No version holds the production alias any more: version"
                                          f" {served[0]['version']} keeps serving until one does.")
            return None
        if served is not None and (served[0]["version"], served[0]["run_id"]) == (target.version, target.run_id):
            self.notes.pop("reload", None)
            return None
        if self._refused == (target.version, target.run_id):
            return None  # refused already; a new promotion moves the alias again
        old = served[0]["version"] if served else None
        try:
            self.load_production_model()
        except SensexError as exc:
            self._refused = (target.version, target.run_id)
            keeps = f" Version {old} keeps serving." if old else ""
            reason = f"Version {target.version} was refused by the server: {exc}{keeps}"
            self.notes["reload"] = reason
            log.warning("%s", reason)
            self._log_refusal(target.version, reason)
            return reason
        self._refused = None
        self.notes.pop("reload", None)
        log.info("Now serving version %s (was %s).", self.model_info["version"], old)
        return f"version {self.model_info['version']} serving (was {old})"

    def _log_refusal(self, version: str, reason: str) -> None:
        from sensex.market.modes import registered_model

        try:
            jsonlog.append(self.settings.logs_dir / jsonlog.PROMOTION_LOG, {
                "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
                "model_name": registered_model(self.mode, self.universe.key), "version": version, "stage": "Production",
                "event_type": "refused_by_server", "reason": reason, "server_pid": os.getpid(),
            })
        except OSError as exc:
            log.warning("The refusal was not written to the promotion log: %s", exc)

    # -- forecasting ---------------------------------------------------------------------------
    def _latest_inputs(self, bundle: Bundle, as_of: str | None) -> LatestInputs:
        """The model's inputs from `as_of` (default: the latest stored session). The latest one
        is kept per model and data hash, in memory and on disk (`window_cache`)."""
        if as_of is not None:
            return self._computed_inputs(bundle, as_of)
        content_hash = (store.read_meta(self.settings.store_dir) or {}).get("content_hash")
        key = f"{bundle.meta.onnx_sha256}:{content_hash}"
        latest = self._latest
        if latest is not None and latest[0] == key:
            return latest[1]
        directory = self.settings.cache_dir / "windows"
        inputs = window_cache.load(directory, self.mode, bundle.meta.onnx_sha256, content_hash)
        if inputs is not None and inputs.range_features is None and has_range(bundle.meta):
            inputs = None  # kept before the range forecast existed: computed again, with its row
        if inputs is not None and inputs.member_range_features is None and (bundle.meta.members or {}).get("range"):
            inputs = None  # kept before the members' range forecast existed: likewise
        if inputs is not None and inputs.range_scores is None and has_range(bundle.meta):
            inputs = None  # kept before the band was calibrated on recent sessions: likewise
        if inputs is None:
            inputs = self._computed_inputs(bundle, None)
            window_cache.save(directory, self.mode, bundle.meta.onnx_sha256, content_hash, inputs)
        self._latest = (key, inputs)
        return inputs

    def _computed_inputs(self, bundle: Bundle, as_of: str | None) -> LatestInputs:
        if self.compute_elsewhere:
            from sensex.serving.inputs_process import computed_elsewhere

            return computed_elsewhere(self.settings, self.universe, bundle, as_of)
        from sensex.serving.inputs import computed_inputs  # imports pandas and TA-Lib: only when computing

        return computed_inputs(self.settings, self.universe, bundle, as_of)

    def _fallback_bundle(self) -> tuple[dict, Bundle] | None:
        """The labelled baseline's bundle while nothing is in production (`serving.fallback`)."""
        if self._fallback is None:
            self._fallback = fallback.find(self.settings, self.mode, self.universe.key)
        return self._fallback

    def _forecast_key(self, bundle: Bundle, version: str, meta: dict, as_of: str | None) -> str:
        # The source too: a forecast says which prices it read (`synthetic`, `data_warning`), and
        # the same rows imported as another kind of prices hash alike.
        return (f"forecast:{self.universe.key}:{self.mode}:{version}:{bundle.meta.onnx_sha256[:12]}:"
                f"{meta.get('content_hash')}:{meta.get('source')}:{as_of or 'latest'}")

    def cached_forecast(self, as_of: str | None = None) -> dict | None:
        """The forecast `predict` would return from this process's memory, or None.

        Never loads a model, computes, waits on another computation or asks Redis: the API calls
        it on its event loop, so a cached answer does not queue for a worker thread behind
        forecasts being computed (under load each hand-over between threads waits for the GIL).
        """
        served = self._served
        if served is None:
            return None
        info, bundle, _ = served
        meta = store.read_meta(self.settings.store_dir) or {}
        forecast = self._local_cache().get(self._forecast_key(bundle, info["version"], meta, as_of))
        if forecast is None:
            return None
        return {**with_clock(forecast, latest=as_of is None), "cached": True}

    def _local_cache(self):
        """The cache this process can read without I/O: the cache itself when it is in memory;
        with Redis, a small copy of the forecasts this process served. A forecast's key names the
        model version and the store's content hash, so a copy can never be stale."""
        from sensex.core.cache import MemoryCache

        if isinstance(self.cache, MemoryCache):
            return self.cache
        if self._held is None:
            self._held = MemoryCache(max_entries=512, max_bytes=8 * 1024 * 1024)
        return self._held

    def predict(self, as_of: str | None = None, log_prediction: bool = True) -> dict:
        """The production model's forecast; with no model in production, the labelled baseline's
        forecast from the newest registered version (`model_version` "baseline:logreg")."""
        from sensex.core.cache import cached_or_computed

        fallback = False
        try:
            info, bundle, _ = self._current()
            version = info["version"]
        except NoProductionModel:
            found = self._fallback_bundle()
            if found is None:
                raise
            bundle, fallback = found[1], True
            version = f"baseline:{bundle.meta.uncertainty['fallback']['name']}"
        meta = store.read_meta(self.settings.store_dir) or {}
        key = self._forecast_key(bundle, version, meta, as_of)

        def compute() -> dict:
            started = time.perf_counter()
            members: dict = {}
            with COMPUTE_SLOTS:
                inputs = self._latest_inputs(bundle, as_of or None)
                if fallback:
                    name = bundle.meta.uncertainty["fallback"]["name"]
                    probability = float(baseline_probabilities(bundle.meta.baselines, inputs.tabular["index"],
                                                               inputs.tabular["latest"])[name][0])
                    spread, test, kind = None, bundle.meta.test_baselines.get(name, {}), "baseline"
                else:
                    # The index and every member from one run of the graph (members: None without them).
                    index_p, stock_logits = bundle.probabilities_with_members(inputs.window, inputs.tabular)
                    probability = float(index_p[0])
                    if stock_logits is not None:
                        members = member_forecasts(bundle.meta, stock_logits[0], inputs.window[0, -1, :, -1] > 0.5,
                                                   inputs.member_range_features)
                    spread = bundle.spread(inputs.window, inputs.tabular)
                    test, kind = bundle.meta.test_metrics, bundle.meta.kind
            # How far, never which way: the range part of the same bundle, on the same session's
            # inputs (numpy, `models.range_portable`); none for the fallback baseline or an older bundle.
            range_view = None if fallback else expected_move(bundle.meta.range, inputs.range_features, inputs.last_close,
                                                             inputs.range_scores)
            assessment = assess(bundle.meta, probability, spread, inputs.volatility, fallback=fallback,
                                range_view=range_view)
            return Forecast(
                direction="UP" if probability >= 0.5 else "DOWN",
                probability=round(probability, 4),
                model_version=version,
                model_kind=kind,
                mode=bundle.meta.mode,
                last_bse_session=inputs.last_session,
                last_sp500_session=inputs.last_sp500,
                as_of=inputs.last_session,
                as_of_notice=dates.rolled_back_notice(as_of, inputs.last_session),
                target_date=exchanges.next_session_date(self.universe.exchange, inputs.last_session),
                universe=self.universe.key,
                data_source=meta.get("source", "unknown"),
                synthetic=bool(meta.get("synthetic")),
                stale=exchanges.is_stale(self.universe.exchange, inputs.last_session) if as_of is None else False,
                model_test_auc=test.get("auc"),
                model_test_accuracy=test.get("accuracy"),
                latency_ms=round((time.perf_counter() - started) * 1000, 1),
                **assessment,
                # A model answering from prices of another kind than it learnt from says so (`data_match`).
                **data_match.served_fields(self, bundle, meta),
                **members,
            ).model_dump(exclude={} if members else {"members", "sectors"})

        # Single flight: concurrent identical requests wait for one computation and share it;
        # only the caller that computed logs, so the log has one line per forecast made.
        forecast, computed = cached_or_computed(self.cache, key, self.cache_ttl, compute)
        if self._local_cache() is not self.cache:
            self._local_cache().set(key, forecast, self.cache_ttl)
        forecast = with_clock(forecast, latest=as_of is None)  # the clock moves on; the cached forecast does not
        if not computed:
            return {**forecast, "cached": True}
        if log_prediction:
            # A query about an earlier session is a look back, not a live forecast (track record).
            back_dated = as_of is not None and forecast["as_of"] < str(meta.get("last_date") or forecast["as_of"])
            forecast = {**forecast, "logged": self._log_forecast(forecast, back_dated)}
        return forecast

    def _log_forecast(self, forecast: dict, back_dated: bool) -> bool:
        """Append to the prediction log; a read-only or full home loses the log line, not the forecast."""
        path = self.settings.logs_dir / jsonlog.PREDICTION_LOG
        try:
            # One record per session, mode and universe (and look-back or not), however many
            # requests ask: the track record counts forecasts, and nobody on the port grows the log.
            jsonlog.append_once(path, {
                "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
                "prediction": {k: forecast[k] for k in ("direction", "probability", "confidence", "interval", "no_call",
                                                        "skill")},
                "model_version": forecast["model_version"],
                "mode": forecast["mode"],
                "as_of": forecast["as_of"],
                "target_date": forecast["target_date"],
                "data_source": forecast["data_source"],
                "back_dated": back_dated,
                "universe": self.universe.key,  # one home's log holds every universe's forecasts
                # The 80% band for the target close, so the track record can say how often the
                # close landed inside it (null without a range forecast).
                "expected_move": _logged_move(forecast.get("expected_move")),
            }, key=_forecast_identity)
        except OSError as exc:
            log.warning("The forecast was not written to the prediction log: %s", storage_error(exc, self.settings.home))
            return False
        return True

    # -- monitoring views (`sensex.serving.views`) -------------------------------------------
    def explain(self, as_of: str | None = None) -> dict:
        """Occlusion explanation of the forecast from `as_of` (default: the latest session)."""
        return views.explain(self, as_of)

    def drift(self, start: str | None = None, end: str | None = None, sessions: int | None = None,
              promotion=None) -> dict:
        """The served model's drift report: performance on unseen sessions, feature PSI, the live record."""
        return views.drift(self, start, end, sessions, promotion)

    def drift_history(self, step: int | None = None, sessions: int | None = None) -> dict:
        """Drift over time since training, cached per model version and data hash."""
        return views.drift_history(self, step, sessions)

    def model_card(self) -> dict:
        """What the served model is and how good it was out of sample, beside its baselines."""
        return views.model_card(self)

    def prediction_history(self, limit: int = 50) -> list[dict]:
        """Logged forecasts, newest first, with the realized direction once the target session closed."""
        return views.prediction_history(self, limit)

    # -- health ----------------------------------------------------------------------------------
    def health_check(self) -> dict:
        """The original design's health check (`sensex.serving.health`)."""
        return health.health_check(self)


def _logged_move(move: dict | None) -> dict | None:
    if not move:
        return None
    return {k: move.get(k) for k in ("pct", "points", "range_low", "range_high", "level", "last_close")}


def _forecast_identity(record: dict) -> tuple:
    """What makes two prediction-log records the same forecast (unlabelled records are SENSEX's)."""
    return (record.get("universe") or "sensex", record.get("mode") or "close", record.get("as_of"),
            bool(record.get("back_dated")))
