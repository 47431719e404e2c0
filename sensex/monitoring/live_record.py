"""The live record of the served model: the logged forecasts whose target session has closed
(one per as-of session and mode, the first one issued; back-dated look-backs reported apart),
hit rate and Brier beside always-UP on the same sessions, with 90% intervals. No calls are
abstentions: out of the hit rate, in the Brier score. One of the three parts of the drift report
(`sensex.monitoring.drift`)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from sensex.core import jsonlog
from sensex.core.settings import Settings
from sensex.data import store
from sensex.models.bundle import Bundle

if TYPE_CHECKING:  # pandas comes with a report, not with the import
    import pandas as pd

MIN_SESSIONS = 20  # labelled sessions (or closed forecasts) before a verdict means anything
# The severity of a drift part with too few sessions for a verdict: never `ok`, which would claim one.
NOT_JUDGED = "not_judged"
Z90 = 1.6449


def wilson(hits: int, n: int, z: float = Z90) -> list[float]:
    if n == 0:
        return [0.0, 1.0]
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [round(centre - half, 4), round(centre + half, 4)]


def mean_interval(values: np.ndarray) -> list[float] | None:
    if len(values) < 2:
        return None  # one value has no spread: no interval
    half = Z90 * float(np.std(values, ddof=1)) / math.sqrt(len(values))
    return [round(float(values.mean()) - half, 4), round(float(values.mean()) + half, 4)]


def closed_forecasts(settings: Settings, index_symbol: str, mode: str,
                     closes: pd.Series | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(live, back-dated): one row per as-of session (the first forecast issued for it), with the
    realized outcome, for forecasts of `mode` whose target session is stored. `closes`: the
    index's stored closes by date, when the caller holds them (read from the store otherwise)."""
    import pandas as pd

    columns = ["as_of", "target_date", "probability", "direction", "no_call", "model_version", "up"]
    from sensex.market.universe import load_universe

    # One home, several universes: only the served universe's forecasts are scored on its index.
    records = jsonlog.for_universe(jsonlog.read(settings.logs_dir / jsonlog.PREDICTION_LOG),
                                   load_universe(settings.universe).key)
    if not records or not store.exists(settings.store_dir):
        return pd.DataFrame(columns=columns), pd.DataFrame(columns=columns)
    if closes is None:
        closes = store.read(settings.store_dir, symbols=[index_symbol]).set_index("date")["close"]
    closes = closes.copy()
    closes.index = pd.to_datetime(closes.index).strftime("%Y-%m-%d")
    rows, back = {}, {}
    for record in records:
        if record.get("mode", "close") != mode or str(record.get("model_version", "")).startswith("baseline:"):
            continue
        as_of, target = record.get("as_of"), record.get("target_date")
        if as_of not in closes.index or target not in closes.index:
            continue
        prediction = record.get("prediction") or {}
        row = {"as_of": as_of, "target_date": target, "probability": float(prediction.get("probability", np.nan)),
               "direction": prediction.get("direction"), "no_call": bool(prediction.get("no_call")),
               "model_version": record.get("model_version"),
               "up": float(closes[target] > closes[as_of])}
        (back if record.get("back_dated") else rows).setdefault(as_of, row)  # the first issued counts
    return pd.DataFrame(list(rows.values()), columns=columns), pd.DataFrame(list(back.values()), columns=columns)


def _record_summary(table: pd.DataFrame, up_probability: float) -> dict:
    y, p = table["up"].to_numpy(float), table["probability"].to_numpy(float)
    # No calls are abstentions: out of the hit rate (still in the Brier score, which judges every P(UP)).
    called = ~table["no_call"].fillna(False).to_numpy(bool) if "no_call" in table else np.ones(len(table), bool)
    calls = int(called.sum())
    hits = int(((p >= 0.5) == (y == 1))[called].sum())
    brier, up_brier = (p - y) ** 2, (up_probability - y) ** 2
    return {"n": int(len(table)), "calls": calls, "abstentions": int(len(table) - calls),
            "hit_rate": round(hits / calls, 4) if calls else None, "hit_rate_interval": wilson(hits, calls),
            "brier": round(float(brier.mean()), 4), "brier_interval": mean_interval(brier),
            "always_up": {"hit_rate": round(float(y.mean()), 4), "hit_rate_interval": wilson(int(y.sum()), len(table)),
                          "brier": round(float(up_brier.mean()), 4)},
            "brier_minus_always_up_interval": mean_interval(brier - up_brier),
            "first": str(table["as_of"].min()), "last": str(table["as_of"].max())}


def live(settings: Settings, bundle: Bundle, index_symbol: str, mode: str, closes: pd.Series | None = None) -> dict:
    record, back_dated = closed_forecasts(settings, index_symbol, mode, closes)
    up_probability = float((bundle.meta.baselines or {}).get("always_up", {}).get("up_share", 0.5))
    out: dict = {"back_dated": _record_summary(back_dated, up_probability) if len(back_dated) else {"n": 0}}
    if len(record) < MIN_SESSIONS:
        return {**out, "severity": NOT_JUDGED, "judged": False, "n": int(len(record)),
                "reason": f"Only {len(record)} live forecasts have a closed target session: the live record needs"
                          f" {MIN_SESSIONS} to judge (back-dated look-backs do not count)."}
    summary = _record_summary(record, up_probability)
    low, high = summary["brier_minus_always_up_interval"]  # n >= MIN_SESSIONS: an interval exists
    if low > 0:  # worse than calling UP every day, beyond doubt
        severity, verdict = "retrain", "worse than always-UP beyond its 90% interval"
    elif high > 0 and summary["brier"] > summary["always_up"]["brier"]:
        severity, verdict = "watch", "not better than always-UP"
    else:
        severity, verdict = "ok", "no worse than always-UP"
    return {**out, **summary, "severity": severity, "judged": True,
            "reason": f"{summary['n']} live forecasts ({summary['first']}..{summary['last']}): {_hit_text(summary)},"
                      f" Brier {summary['brier']:.4f} against always-UP's {summary['always_up']['hit_rate']:.3f} and"
                      f" {summary['always_up']['brier']:.4f}: {verdict}."}


def _hit_text(summary: dict) -> str:
    abstained = f" ({summary['abstentions']} no calls left out)" if summary.get("abstentions") else ""
    if summary["hit_rate"] is None:
        return f"no calls to score{abstained}"
    return f"hit rate {summary['hit_rate']:.3f} {summary['hit_rate_interval']} on {summary['calls']} calls{abstained}"
