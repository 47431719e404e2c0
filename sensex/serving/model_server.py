"""The model server: the production model on ONNX Runtime, forecasts with caching, health
checks and the prediction log. No torch in this process.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from sensex import exchanges, jsonlog, store
from sensex.errors import DataError, ModelNotFoundError, NoProductionModel, storage_error
from sensex.features.dataset import load_panel
from sensex.features.overnight import sp500_gap_reason
from sensex.features.windows import model_input
from sensex.models.bundle import Bundle
from sensex.models.designs import index_design, latest_session_design, realized_volatility
from sensex.models.portable import baseline_probabilities
from sensex.modes import check_mode
from sensex.redaction import redact_text
from sensex.serving.assessment import assess
from sensex.serving.forecast import Forecast
from sensex.serving.forecast_clock import with_clock
from sensex.serving.member_forecasts import member_forecasts
from sensex.settings import Settings, get_settings
from sensex.universe import Universe, load_universe

log = logging.getLogger(__name__)

# Forecasts computed at once in this process. More than the cores only adds threads fighting for
# the GIL: cached requests then wait behind them, and every extra computation in flight holds
# its own copy of the stored frame (memory that the allocator keeps after the load has gone).
COMPUTE_SLOTS = threading.BoundedSemaphore(max(1, os.cpu_count() or 1))


@dataclass
class LatestInputs:
    """Everything a forecast from the last stored session needs."""

    window: np.ndarray  # (1, T, S, C)
    tabular: dict  # the baselines' inputs of the last session: {"index": (1, 13), "latest": (1, F + M)}
    last_session: pd.Timestamp
    volatility: float  # annualized 20-session realized volatility of the index
    last_sp500: str | None = None  # pre-open: the last S&P 500 session (New York date) used


class ModelServer:
    def __init__(self, settings: Settings | None = None, universe: Universe | None = None, cache=None,
                 mode: str | None = None):
        self.settings = settings or get_settings()
        self.mode = check_mode(mode)  # which registered model it serves (`sensex.modes`)
        self.universe = universe or load_universe(self.settings.universe)
        # The registry reads the universe from the settings: a universe given here is the one it serves.
        self.settings = self.settings.model_copy(update={"universe": self.universe.spec})
        self.cache_ttl = 300  # seconds a forecast is reused for the same model and data
        self._cache = cache
        self.bundle: Bundle | None = None
        self.model_info: dict | None = None
        self.loaded_at: str | None = None
        self._lock = threading.Lock()
        self._fallback: tuple[dict, Bundle] | None = None  # the labelled baseline while nothing is in production

    @property
    def cache(self):
        if self._cache is None:
            from sensex.cache import get_cache

            self._cache = get_cache(self.settings)
        return self._cache

    # -- loading -------------------------------------------------------------------------------
    def load_production_model(self) -> dict:
        from sensex.serving.model_registry import ModelRegistry

        registry = ModelRegistry(self.settings, mode=self.mode)
        info, bundle = registry.load()
        if bundle.meta.mode != self.mode:
            raise ModelNotFoundError(
                f"The production {registry.model_name} model reads {bundle.meta.mode} data, not {self.mode}: retrain it"
                f" with `sensex train --mode {self.mode}`."
            )
        if bundle.symbols != self.universe.symbols:
            raise ModelNotFoundError(
                "The production model was trained on another member list than the current universe: retrain it."
            )
        bundle.session()  # build the ONNX session now, not on the first request
        with self._lock:
            self.model_info = {**info, "uri": registry.production_model_uri()}
            self.bundle = bundle
            self.loaded_at = datetime.now(UTC).isoformat(timespec="seconds")
        return self.model_info

    def ensure_loaded(self) -> Bundle:
        if self.bundle is None:
            self.load_production_model()
        return self.bundle

    # -- forecasting ---------------------------------------------------------------------------
    def _latest_inputs(self, bundle: Bundle, as_of: pd.Timestamp | None) -> LatestInputs:
        # Only the tail the window needs, plus the indicators' warm-up.
        panel = load_panel(self.settings, self.universe, end=as_of, sessions=bundle.window + bundle.meta.warmup,
                           mode=bundle.meta.mode)
        if len(panel.dates) < bundle.window:
            if as_of is not None:  # the store may be fine: the date is too close to its start
                raise DataError(f"Only {len(panel.dates)} index sessions are stored up to {as_of.date()} and the"
                                f" model needs {bundle.window}: pick a later as-of date.")
            raise DataError(
                f"Insufficient data for prediction: {len(panel.dates)} index sessions stored, {bundle.window} needed; run `sensex data update`."
            )
        if panel.available[-1].sum() == 0:
            raise DataError("No member has usable data on the last stored session: run `sensex data status`.")
        last_sp500 = None
        if panel.overnight is not None:  # pre-open: refuse, saying why, without the S&P 500 it needs
            latest = panel.overnight.iloc[-1]
            reason = sp500_gap_reason(latest)
            if reason is not None:
                raise DataError(reason)
            last_sp500 = str(pd.Timestamp(latest["sp500_last_date"]).date())
        tensor = model_input(panel, bundle.scaler)  # (D, S, C)
        return LatestInputs(tensor[-bundle.window:][None],
                            {"index": index_design(panel)[-1:], "latest": latest_session_design(panel)[-1:]},
                            panel.dates[-1], float(realized_volatility(panel)[-1]), last_sp500)

    def _fallback_bundle(self) -> tuple[dict, Bundle] | None:
        if self._fallback is None:
            from sensex.serving.model_registry import ModelRegistry

            self._fallback = ModelRegistry(self.settings, mode=self.mode).fallback_bundle()
        return self._fallback

    def predict(self, as_of: str | None = None, log_prediction: bool = True) -> dict:
        """The production model's forecast; with no model in production, the labelled baseline's
        forecast from the newest registered version (`model_version` "baseline:logreg")."""
        from sensex.cache import cached_or_computed

        fallback = False
        try:
            bundle = self.ensure_loaded()
            version = self.model_info["version"]
        except NoProductionModel:
            found = self._fallback_bundle()
            if found is None:
                raise
            bundle, fallback = found[1], True
            version = f"baseline:{bundle.meta.uncertainty['fallback']['name']}"
        meta = store.read_meta(self.settings.store_dir) or {}
        key = f"forecast:{self.universe.key}:{self.mode}:{version}:{bundle.meta.onnx_sha256[:12]}:{meta.get('content_hash')}:{as_of or 'latest'}"

        def compute() -> dict:
            started = time.perf_counter()
            members: dict = {}
            with COMPUTE_SLOTS:
                inputs = self._latest_inputs(bundle, pd.Timestamp(as_of) if as_of else None)
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
                        members = member_forecasts(bundle.meta, stock_logits[0], inputs.window[0, -1, :, -1] > 0.5)
                    spread = bundle.spread(inputs.window, inputs.tabular)
                    test, kind = bundle.meta.test_metrics, bundle.meta.kind
            assessment = assess(bundle.meta, probability, spread, inputs.volatility, fallback=fallback)
            return Forecast(
                direction="UP" if probability >= 0.5 else "DOWN",
                probability=round(probability, 4),
                model_version=version,
                model_kind=kind,
                mode=bundle.meta.mode,
                last_bse_session=str(inputs.last_session.date()),
                last_sp500_session=inputs.last_sp500,
                as_of=str(inputs.last_session.date()),
                target_date=str(exchanges.next_session(self.universe.exchange, inputs.last_session).date()),
                universe=self.universe.key,
                data_source=meta.get("source", "unknown"),
                synthetic=bool(meta.get("synthetic")),
                stale=exchanges.is_stale(self.universe.exchange, inputs.last_session) if as_of is None else False,
                model_test_auc=test.get("auc"),
                model_test_accuracy=test.get("accuracy"),
                latency_ms=round((time.perf_counter() - started) * 1000, 1),
                **assessment,
                **members,
            ).model_dump(exclude={} if members else {"members", "sectors"})

        # Single flight: concurrent identical requests wait for one computation and share it;
        # only the caller that computed logs, so the log has one line per forecast made.
        forecast, computed = cached_or_computed(self.cache, key, self.cache_ttl, compute)
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
            jsonlog.append(path, {
                "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
                "prediction": {k: forecast[k] for k in ("direction", "probability", "confidence", "interval", "no_call",
                                                        "skill")},
                "model_version": forecast["model_version"],
                "mode": forecast["mode"],
                "as_of": forecast["as_of"],
                "target_date": forecast["target_date"],
                "data_source": forecast["data_source"],
                "back_dated": back_dated,
            })
        except OSError as exc:
            log.warning("The forecast was not written to the prediction log: %s", storage_error(exc, self.settings.home))
            return False
        return True

    def explain(self, as_of: str | None = None) -> dict:
        """Occlusion explanation of the forecast from `as_of` (default: the latest session)."""
        from sensex.serving.explain import occlusion

        bundle = self.ensure_loaded()
        inputs = self._latest_inputs(bundle, pd.Timestamp(as_of) if as_of else None)
        sectors = {m.symbol: m.sector for m in self.universe.members}
        return {**occlusion(bundle, inputs.window, sectors, inputs.tabular), "as_of": str(inputs.last_session.date()),
                "model_version": self.model_info["version"]}

    def model_card(self) -> dict:
        """What the served model is and how good it was out of sample, beside its baselines:
        the one description `/model`, the CLI and the dashboard show."""
        bundle = self.ensure_loaded()
        meta = bundle.meta
        return {
            **self.model_info,
            "kind": meta.kind,
            "mode": meta.mode,
            "test_metrics_after_open": meta.test_metrics_after_open,
            "loaded_at": self.loaded_at,
            "window": meta.window,
            "segments": meta.segments,
            "data": meta.data,
            "calibration": meta.calibration.to_dict(),
            "test_metrics": meta.test_metrics,
            "test_intervals": meta.test_intervals,
            "test_baselines": meta.test_baselines,
            "uncertainty": meta.uncertainty,
            "ensemble": meta.ensemble,
            "n_stock_features": len(meta.stock_features),
            "n_market_features": len(meta.market_features),
            "members": len(meta.symbols),
            "schema_version": meta.schema_version,
            # Issue 12: how the member forecasts were chosen and how they did out of sample (None without them).
            "member_forecasts": {k: meta.members.get(k) for k in ("source", "selection", "test", "test_baselines", "record")}
            if meta.members else None,
        }

    def prediction_history(self, limit: int = 50) -> list[dict]:
        """Logged forecasts, newest first, with the realized direction once the target session closed."""
        records = jsonlog.read(self.settings.logs_dir / jsonlog.PREDICTION_LOG, limit)
        closes = pd.Series(dtype=float)
        if store.exists(self.settings.store_dir):
            index = store.read(self.settings.store_dir, symbols=[self.universe.index_symbol])
            closes = index.set_index("date")["close"]
        out = []
        for record in reversed(records):
            as_of, target = pd.Timestamp(record.get("as_of")), pd.Timestamp(record.get("target_date"))
            realized = None
            if as_of in closes.index and target in closes.index:
                realized = "UP" if closes[target] > closes[as_of] else "DOWN"
            direction = record.get("prediction", {}).get("direction")
            out.append({**record, "realized": realized, "correct": None if realized is None else realized == direction})
        return out

    # -- health ----------------------------------------------------------------------------------
    def health_check(self) -> dict:
        checks = {"model_loaded": False, "model_inference": False, "cache_healthy": False, "data_fresh": False}
        detail: dict = {}
        try:
            bundle = self.ensure_loaded()
            checks["model_loaded"] = True
            probe = np.zeros((1, bundle.window, len(bundle.symbols), bundle.scaler.n_channels), np.float32)
            checks["model_inference"] = bool(np.isfinite(bundle.logits(probe)).all())
        except Exception as exc:  # health must report, never raise
            detail["model"] = redact_text(str(exc))
            if isinstance(exc, NoProductionModel) and self._fallback_bundle() is not None:
                detail["fallback"] = "no model passed the promotion gate: forecasts come from the labelled baseline"
        try:
            self.cache.set("health:probe", 1, 5)
            checks["cache_healthy"] = self.cache.get("health:probe") == 1
            detail["cache"] = self.cache.stats()
        except Exception as exc:
            detail["cache"] = redact_text(str(exc))
        meta = store.read_meta(self.settings.store_dir)
        if meta:
            checks["data_fresh"] = not exchanges.is_stale(self.universe.exchange, meta.get("last_date"))
            detail["data"] = {"last_date": meta.get("last_date"), "source": meta.get("source")}
        else:
            detail["data"] = "no data stored: run `sensex data update`"
        if not (checks["model_loaded"] and checks["model_inference"]):
            status = "unhealthy"
        elif all(checks.values()):
            status = "healthy"
        else:
            status = "degraded"
        return {
            "status": status, "checks": checks, "detail": detail,
            "model_version": self.model_info["version"] if self.model_info else None,
            "loaded_at": self.loaded_at,
            "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        }
