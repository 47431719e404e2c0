"""Realized outcomes of past forecasts: once a forecast's target session has closed, what happened.

Read from the prediction log and the stored index closes; appended once per forecast (mode, model
version, as-of session, target session) to `$SENSEX_HOME/logs/outcome_log.json` (JSON Lines), so
the live record survives a rebuilt store and a forecast asked for many times counts once.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from sensex.core import jsonlog
from sensex.core.settings import Settings
from sensex.data import store

OUTCOME_LOG = "outcome_log.json"


def _key(record: dict) -> tuple:
    return (record.get("mode") or "close", str(record.get("model_version")), record.get("as_of"), record.get("target_date"),
            record.get("universe") or jsonlog.UNLABELLED_UNIVERSE)  # two universes' version 1 are two models


def record_outcomes(settings: Settings, index_symbol: str) -> dict:
    """Append the outcome of every logged forecast whose target session is now stored and that has
    no outcome yet. Returns counts: `recorded` now, `pending` (target not stored yet)."""
    logs = settings.logs_dir
    from sensex.market.universe import load_universe

    # One home, several universes: only this universe's forecasts are scored on its index.
    forecasts = jsonlog.for_universe(jsonlog.read(logs / jsonlog.PREDICTION_LOG), load_universe(settings.universe).key)
    done = {_key(r) for r in jsonlog.read(logs / OUTCOME_LOG)}
    if not forecasts or not store.exists(settings.store_dir):
        return {"recorded": 0, "pending": 0, "hits": 0}
    closes = store.read(settings.store_dir, symbols=[index_symbol]).set_index("date")["close"]
    recorded = hits = 0
    pending: set[tuple] = set()
    for forecast in forecasts:
        key = _key(forecast)
        if key in done or not forecast.get("as_of") or not forecast.get("target_date"):
            continue
        as_of, target = pd.Timestamp(forecast["as_of"]), pd.Timestamp(forecast["target_date"])
        if as_of not in closes.index or target not in closes.index:
            pending.add(key)
            continue
        # The label's own rule: UP only when the target close is strictly above the as-of close.
        realized = "UP" if closes[target] > closes[as_of] else "DOWN"
        prediction = forecast.get("prediction") or {}
        correct = realized == prediction.get("direction")
        jsonlog.append(logs / OUTCOME_LOG, {
            "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "forecast_at": forecast.get("timestamp"),
            "mode": key[0], "model_version": key[1], "as_of": key[2], "target_date": key[3], "universe": key[4],
            "direction": prediction.get("direction"), "probability": prediction.get("probability"),
            "realized": realized, "correct": correct,
            "close_as_of": float(closes[as_of]), "close_target": float(closes[target]),
            "data_source": forecast.get("data_source"),
        })
        done.add(key)
        recorded += 1
        hits += int(correct)
    return {"recorded": recorded, "pending": len(pending), "hits": hits}
