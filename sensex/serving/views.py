"""What the served model shows besides its forecast: the explanation, the drift reports, the
model card, the prediction history. Each reads the server's current model and settings;
`Served`'s methods of the same names call these."""

from __future__ import annotations

import dataclasses
import threading
from typing import TYPE_CHECKING

from sensex.core import jsonlog
from sensex.core.cache import HISTORY_TTL, PRICE_TTL, cached
from sensex.data import store
from sensex.models.bundle import Bundle
from sensex.models.uncertainty import card_skill
from sensex.serving import data_match
from sensex.serving.answers import Answers
from sensex.serving.served import Served
from sensex.serving.worker_process import WorkerProcess, follow_home

if TYPE_CHECKING:
    import pandas as pd

# The heavy views (an explanation, a drift report, the drift history) compute one at a time,
# apart from forecasts (`model_server.COMPUTE_SLOTS`), and are cached per model and store
# content: a crowd asking for them costs one computation, and forecasts never queue behind them.
HEAVY_SLOTS = threading.BoundedSemaphore(1)
VIEWS_WORKER = WorkerProcess("heavy views")


ANSWERS = Answers()  # the API's encoded heavy answers in this process (`answer_json`)


def answer_json(server: Served, view: str, *args) -> bytes:
    """The JSON bytes of the heavy view `view` ("explain", "drift", "drift_history") with `args`,
    as the API sends it: kept in this process under a key naming the home, the model, the store's
    content and, for drift, the prediction log (`serving.answers`), so a repeated request neither
    decodes the cache entry nor encodes the answer again."""
    make = {"explain": explain, "drift": drift, "drift_history": drift_history}[view]
    # Drift holds the live record, kept PRICE_TTL like its cache entry; the others change only
    # with the model or the data.
    ttl = PRICE_TTL if view == "drift" else HISTORY_TTL
    return ANSWERS.get(_answer_key(server, view, args), lambda: make(server, *args), ttl,
                       still=lambda: _answer_key(server, view, args))


def kept_answer(server: Served, view: str, *args) -> bytes | None:
    """`answer_json`'s bytes when this process keeps them, else None: no computation and no model
    load (the caller checks a model is loaded), so the API can answer it on its event loop."""
    return ANSWERS.peek(_answer_key(server, view, args))


def _answer_key(server: Served, view: str, args: tuple) -> str:
    info, bundle, _ = server._current()
    stamp = _log_stamp(server) if view == "drift" else ""
    return _model_data_key(server, f"answer-{view}", info, bundle, server.settings.home, stamp, *args)


def _log_stamp(server: Served) -> str:
    """The prediction log's size and time: what the live record is read from."""
    log = server.settings.logs_dir / jsonlog.PREDICTION_LOG
    try:
        status = log.stat()
    except FileNotFoundError:
        return "none"
    return f"{status.st_size}-{status.st_mtime_ns}"


def _model_data_key(server: Served, kind: str, info: dict, bundle, *parts) -> str:
    """A cache key naming the served model and the store's content: either changing is a miss."""
    content_hash = (store.read_meta(server.settings.store_dir) or {}).get("content_hash")
    return ":".join(str(part) for part in (kind, server.universe.key, server.mode, info["version"],
                                           bundle.meta.onnx_sha256[:12], content_hash, *parts))


def _heavy(server: Served, function, *args):
    """`function(*args)` as `cached` computes it: one heavy view at a time, in the views' worker
    process when the server computes elsewhere (the API: `serving.worker_process`)."""
    def one_at_a_time():
        with HEAVY_SLOTS:
            if server.compute_elsewhere:
                portable = [dataclasses.replace(a, _session=None) if isinstance(a, Bundle) else a for a in args]
                return VIEWS_WORKER.run(_in_worker, str(server.settings.home), function, *portable)
            return function(*args)
    return one_at_a_time


def _in_worker(home: str, function, *args):
    """Runs in the views' worker: `function(*args)` with the API's SENSEX_HOME."""
    follow_home(home)
    return function(*args)


def explain(server: Served, as_of: str | None = None) -> dict:
    """The explanation of the forecast from `as_of` (default: the latest session): occlusion of
    families and members, and the families' Shapley values (`shapley`) beside it."""
    info, bundle, _ = server._current()
    key = _model_data_key(server, "explain", info, bundle, as_of or "latest")

    def compute() -> dict:
        inputs = server._latest_inputs(bundle, as_of or None)  # here: the window cache and the inputs worker
        return _heavy(server, explanation, bundle, inputs, server.universe, info["version"])()

    return cached(server.cache, key, HISTORY_TTL, compute, expect=_is_explanation)


def explanation(bundle, inputs, universe, version: str) -> dict:
    """Occlusion of families and members and the families' Shapley values for `inputs`."""
    from sensex.serving.explain import occlusion, shapley

    sectors = {m.symbol: m.sector for m in universe.members}
    return {**occlusion(bundle, inputs.window, sectors, inputs.tabular), "as_of": inputs.last_session,
            "shapley": shapley(bundle, inputs.window, inputs.tabular), "model_version": version}


def drift(server: Served, start: str | None = None, end: str | None = None, sessions: int | None = None,
          promotion=None) -> dict:
    """The served model's drift report (`sensex.monitoring.drift`): performance on unseen
    sessions, feature PSI, the live record; each with a severity and a reason."""
    from sensex.models.config import PromotionConfig
    from sensex.monitoring.drift import assemble, live_part, model_and_data_parts

    info, bundle, _ = server._current()
    promotion = promotion or PromotionConfig()
    sessions = sessions or promotion.drift_sessions

    # Performance and feature PSI change only with the model or the data (seconds to compute);
    # the live record changes with each logged forecast, so it has its own key, with the
    # prediction log's size and time in it, and is cheap to read again.
    key = _model_data_key(server, "drift-parts", info, bundle, start, end, sessions, promotion.drift_tolerance)
    model_parts = cached(server.cache, key, HISTORY_TTL,
                         _heavy(server, model_and_data_parts, server.settings, bundle, server.universe, start, end,
                                sessions, promotion), expect=_is_drift_parts)
    live_key = _model_data_key(server, "drift-live", info, bundle, _log_stamp(server))
    live_record = cached(server.cache, live_key, PRICE_TTL,
                         lambda: live_part(server.settings, bundle, server.universe, index_closes(server)),
                         expect=_is_severity_part)
    return assemble(info, bundle, promotion, model_parts, live_record)


def drift_history(server: Served, step: int | None = None, sessions: int | None = None) -> dict:
    """Drift over time (`sensex.monitoring.drift.history`): per as-of point every `step` sessions
    since training, the feature PSI per family and the rolling AUC and Brier beside always-UP's.
    Cached per model version and data hash: it changes only when one of them does."""
    from sensex.monitoring.drift import DEFAULT_HISTORY_STEP, DEFAULT_RECENT_SESSIONS

    info, bundle, _ = server._current()
    step, sessions = step or DEFAULT_HISTORY_STEP, sessions or DEFAULT_RECENT_SESSIONS
    content_hash = (store.read_meta(server.settings.store_dir) or {}).get("content_hash")
    key = (f"drift-history:{server.universe.key}:{server.mode}:{info['version']}:{bundle.meta.onnx_sha256[:12]}:"
           f"{content_hash}:{step}:{sessions}")

    return cached(server.cache, key, HISTORY_TTL,
                  _heavy(server, drift_over_time, server.settings, server.universe, bundle, info, step, sessions))


def drift_over_time(settings, universe, bundle, info: dict, step: int, sessions: int) -> dict:
    """The drift history of `bundle` on the stored panel (`monitoring.drift.history`)."""
    from sensex.features.dataset import load_panel
    from sensex.monitoring.drift import history

    panel = load_panel(settings, universe, mode=bundle.meta.mode)
    return {"version": info.get("version"), "run_id": info.get("run_id"), **history(bundle, panel, step, sessions)}


def model_card(server: Served) -> dict:
    """What the served model is and how good it was out of sample, beside its baselines:
    the one description `/model`, the CLI and the dashboard show."""
    info, bundle, loaded_at = server._current()
    meta = bundle.meta
    return {
        **info,
        "kind": meta.kind,
        "mode": meta.mode,
        "test_metrics_after_open": meta.test_metrics_after_open,
        "loaded_at": loaded_at,
        "window": meta.window,
        "segments": meta.segments,
        "data": meta.data,
        "calibration": meta.calibration.to_dict(),
        "test_metrics": meta.test_metrics,
        "test_intervals": meta.test_intervals,
        "test_baselines": meta.test_baselines,
        "uncertainty": meta.uncertainty,
        "skill": card_skill(meta.uncertainty, meta.test_metrics, meta.test_baselines),
        # Whether the store now holds the kind of prices (real or synthetic) the model learnt from.
        **data_match.served_fields(server, bundle),
        "ensemble": meta.ensemble,
        "n_stock_features": len(meta.stock_features),
        "n_market_features": len(meta.market_features),
        "members": len(meta.symbols),
        "schema_version": meta.schema_version,
        # How the member forecasts were chosen and how they did out of sample (None without them).
        "member_forecasts": {k: meta.members.get(k) for k in ("source", "selection", "test", "test_baselines", "record")}
        if meta.members else None,
        # The range forecast's test record beside HAR, EWMA, GARCH, ... (None for a model without one).
        "range": meta.test_range or None,
    }


def prediction_history(server: Served, limit: int = 50) -> list[dict]:
    """Logged forecasts, newest first, with the realized direction once the target session closed."""
    import pandas as pd

    records = jsonlog.read_universe(server.settings.logs_dir / jsonlog.PREDICTION_LOG, server.universe.key, limit)
    closes = index_closes(server)
    out = []
    for record in reversed(records):
        as_of, target = pd.Timestamp(record.get("as_of")), pd.Timestamp(record.get("target_date"))
        realized = None
        if as_of in closes.index and target in closes.index:
            realized = "UP" if closes[target] > closes[as_of] else "DOWN"
        direction = record.get("prediction", {}).get("direction")
        out.append({**record, "realized": realized, "correct": None if realized is None else realized == direction})
    return out


def index_closes(server: Served) -> pd.Series:
    """The index's stored closes by date, read once per store content (`/predictions` is
    polled by dashboards; a Parquet read per call cost more than the rest of the answer)."""
    import pandas as pd

    if not store.exists(server.settings.store_dir):
        return pd.Series(dtype=float)
    content_hash = (store.read_meta(server.settings.store_dir) or {}).get("content_hash")
    held = server._closes
    if held is not None and content_hash is not None and held[0] == content_hash:
        return held[1]
    index = store.read(server.settings.store_dir, symbols=[server.universe.index_symbol])
    closes = index.set_index("date")["close"]
    server._closes = (content_hash, closes)
    return closes


def _is_explanation(value) -> bool:
    """What `explain` caches: a cache entry of any other shape is a miss (and deleted)."""
    return (isinstance(value, dict) and isinstance(value.get("families"), list) and isinstance(value.get("members"), list)
            and isinstance(value.get("probability"), (int, float)) and isinstance(value.get("as_of"), str))


def _is_severity_part(value) -> bool:
    """A drift part as cached: a dict with a severity (a damaged or foreign cache value is a miss)."""
    return isinstance(value, dict) and isinstance(value.get("severity"), str)


def _is_drift_parts(value) -> bool:
    return isinstance(value, dict) and all(_is_severity_part(value.get(part)) for part in ("performance", "features"))
