"""Member and sector forecasts from the graph's "stock_logits" output, with numpy alone.

The bundle's `members` record (written by `sensex.models.member_outputs`) holds the member and
sector calibrations fit on the validation window and each member's sector; this module turns
one window's raw member logits into the forecast's `members` and `sectors` lists.
"""

from __future__ import annotations

import numpy as np

from sensex.core.errors import NoMemberForecasts
from sensex.models.bundle import BundleMeta
from sensex.models.calibrate import Calibration, apply_calibration
from sensex.models.range_portable import member_moves

# Context a member or sector answer carries, so it reads on its own (`GET /members`).
CONTEXT_KEYS = ("universe", "as_of", "target_date", "model_version", "model_kind", "mode", "data_source", "synthetic",
                "stale", "skill")


def member_forecasts(meta: BundleMeta, stock_logits: np.ndarray, available: np.ndarray,
                     range_features: np.ndarray | None = None) -> dict:
    """{"members": [...], "sectors": [...]} from (S,) raw member logits and (S,) availability on the
    last session. Members are ranked by P(UP) (1 = most likely up); a member without data on the
    last session has no probability and no rank, and counts for no sector. With the members' range
    record and their (S, 3) HAR features, each member also gets its `expected_move` (how far, never
    which way: `pct`, `band_pct`)."""
    record = meta.members
    symbols, sectors = list(meta.symbols), list(record["sectors"])
    logits = np.asarray(stock_logits, dtype=np.float64).reshape(-1)
    available = np.asarray(available, dtype=bool).reshape(-1)
    probability = apply_calibration(Calibration(**record["calibration"]), logits)
    order = [j for j in np.argsort(-probability, kind="stable") if available[j]]
    rank = {j: r + 1 for r, j in enumerate(order)}
    moves = member_moves(record.get("range") or {}, range_features, available)
    members = [{"symbol": symbols[j], "sector": sectors[j],
                "probability": round(float(probability[j]), 4) if available[j] else None, "rank": rank.get(j),
                **({"expected_move": moves[j]} if record.get("range") else {})}
               for j in [*order, *(j for j in range(len(symbols)) if not available[j])]]
    sector_calibration = Calibration(**record["sector_calibration"])
    out_sectors = []
    for name in sorted(set(sectors)):
        columns = [j for j, s in enumerate(sectors) if s == name and available[j]]
        if not columns:
            continue
        p = float(apply_calibration(sector_calibration, np.array([logits[columns].mean()]))[0])
        out_sectors.append({"sector": name, "probability": round(p, 4), "members": [symbols[j] for j in columns]})
    out_sectors.sort(key=lambda row: -row["probability"])
    return {"members": members, "sectors": out_sectors}


def forecast_part(forecast: dict, part: str) -> dict:
    """`members` or `sectors` of a forecast with its context; NoMemberForecasts when it has none."""
    if forecast.get(part) is None:
        what = {"members": "member", "sectors": "sector"}[part]
        if str(forecast.get("model_version", "")).startswith("baseline:"):
            raise NoMemberForecasts(f"No model is in production and the labelled baseline serving the index forecast"
                                    f" has no {what} forecasts: promote a model trained with `sensex train`.")
        raise NoMemberForecasts(f"The production model has no {what} forecasts (it was trained before they existed or"
                                f" with model.member_outputs off): retrain it with `sensex train` and promote it.")
    return {**{k: forecast.get(k) for k in CONTEXT_KEYS}, part: forecast[part]}
