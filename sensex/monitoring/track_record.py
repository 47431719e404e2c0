"""The live track record: what the served forecasts said, and what the SENSEX then did.

Pure functions over the prediction log's records (as `ModelServer.predict` writes them) and the
index closes (a Series indexed by session date). Plain data out, so the app, the API and the
CLI can show the same thing.

What counts:
- Only live forecasts: made from the latest stored session when they were logged, and logged
  before the target session closed. Two kinds are kept apart, each with its reason:
  "back-dated" (a query about an earlier session: `predict --as-of`, `POST /predict
  {"as_of": ...}`) and "after the target closed" (a forecast from stale data whose target
  session had already closed when it was made). Neither is a forecast anyone could have acted on.
- One row per as-of session and mode. A session forecast several times (every dashboard load,
  every `sensex predict`) counts once, with the first forecast logged for it: that one was
  issued before anything later was known, so a retrain or a re-run cannot improve the record.
- Realized: UP when the index closed above the as-of close on the target session; "pending"
  until that close is stored.
- The yardstick is always-UP on the same sessions: it calls UP every time, with P(UP) = the
  share of UP sessions in the index history up to the as-of session (no look-ahead).
- The range forecast's 80% band for the target close (`expected_move` in the log, forecasts
  made since it exists): inside when the target session's stored close lies within
  [range_low, range_high]; its live coverage is the share of resolved banded sessions inside,
  beside the 80% it promises (`summary["band"]`).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from sensex.market.calendar import IST

ROLLING_WINDOW = 20  # resolved sessions in the rolling hit rate and Brier
DEFAULT_MODE = "close"
BSE_CLOSE = "15:30"  # IST: a forecast logged after this on its target day is not a forecast
BACK_DATED, LATE = "back-dated", "after the target closed"


def _mode(record: dict) -> str:
    return record.get("mode") or (record.get("prediction") or {}).get("mode") or DEFAULT_MODE


def _timestamp(record: dict) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(record.get("timestamp"))
    except (TypeError, ValueError):
        return pd.Timestamp.min.tz_localize("UTC")
    if pd.isna(stamp):
        return pd.Timestamp.min.tz_localize("UTC")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp


def _usable(record: dict) -> bool:
    prediction = record.get("prediction") or {}
    return bool(record.get("as_of")) and bool(record.get("target_date")) \
        and prediction.get("probability") is not None and prediction.get("direction") in ("UP", "DOWN")


def _closed_before(record: dict) -> bool:
    """Was the target session already closed when the record was logged?"""
    target_close = pd.Timestamp(f"{record['target_date']} {BSE_CLOSE}", tz=IST)
    return _timestamp(record) >= target_close


def split_live(records: Iterable[dict]) -> tuple[list[dict], list[dict]]:
    """(live records, the others each with its `reason`), in log order.

    A record is back-dated when it says so (`back_dated`), or, for records logged before that
    field existed, when a record logged no later than it already had a later as-of session in
    the same mode: the store had moved on, so this one asked about the past.
    """
    records = [r for r in records if _usable(r)]
    latest_seen: dict[str, str] = {}
    live, apart = [], []
    for record in sorted(records, key=_timestamp):  # stable: log order within one timestamp
        mode, as_of = _mode(record), str(record["as_of"])
        back_dated = record.get("back_dated")
        if back_dated is None:
            back_dated = as_of < latest_seen.get(mode, as_of)
        if not back_dated:
            latest_seen[mode] = max(as_of, latest_seen.get(mode, as_of))
        if back_dated:
            apart.append({**record, "reason": BACK_DATED})
        elif _closed_before(record):
            apart.append({**record, "reason": LATE})
        else:
            live.append(record)
    return live, apart


def realized_direction(closes: pd.Series, as_of: str, target: str) -> str | None:
    """UP/DOWN once both closes are stored, else None."""
    as_of_day, target_day = pd.Timestamp(as_of), pd.Timestamp(target)
    if as_of_day not in closes.index or target_day not in closes.index:
        return None
    return "UP" if float(closes[target_day]) > float(closes[as_of_day]) else "DOWN"


def always_up_probability(closes: pd.Series) -> pd.Series:
    """For each session t: the share of UP sessions in the history up to t (what always-UP says
    for the session after t, knowing only the past)."""
    closes = closes.sort_index()
    up = (closes.diff() > 0).astype(float).iloc[1:]
    return up.expanding().mean().reindex(closes.index)


def session_rows(records: Iterable[dict], closes: pd.Series) -> list[dict]:
    """One row per (as-of session, mode[, reason]), oldest first: the first forecast logged for it."""
    first: dict[tuple, dict] = {}
    count: dict[tuple, int] = {}
    for record in sorted(records, key=_timestamp):
        key = (str(record["as_of"]), _mode(record), record.get("reason"))
        count[key] = count.get(key, 0) + 1
        first.setdefault(key, record)
    rows = []
    for (as_of, mode, reason), record in sorted(first.items(), key=lambda item: item[0][:2]):
        prediction = record["prediction"]
        realized = realized_direction(closes, as_of, str(record["target_date"]))
        band = band_outcome(record.get("expected_move"), closes, str(record["target_date"]))
        rows.append({
            "as_of": as_of,
            "target_date": str(record["target_date"]),
            "mode": mode,
            "model_version": str(record.get("model_version")),
            # A no call says neither UP nor DOWN: it is shown as one and is not scored as a hit or
            # a miss (its probability still counts in the Brier score, which judges every forecast).
            "direction": "NO CALL" if prediction.get("no_call") else prediction["direction"],
            "leaning": prediction["direction"],
            "no_call": bool(prediction.get("no_call")),
            "probability": float(prediction["probability"]),
            "realized": realized,
            "correct": None if realized is None or prediction.get("no_call") else realized == prediction["direction"],
            "times_logged": count[(as_of, mode, reason)],
            "first_logged": record.get("timestamp"),
            **band,
            **({"reason": reason} if reason else {}),
        })
    return rows


def band_outcome(move: dict | None, closes: pd.Series, target: str) -> dict:
    """{"band_low", "band_high", "band_inside"}: the logged 80% band for the target close and
    whether the stored close landed inside it (None while pending; every value None without a band)."""
    try:
        low, high = float(move["range_low"]), float(move["range_high"])
    except (TypeError, KeyError, ValueError):
        return {"band_low": None, "band_high": None, "band_inside": None}
    if not (np.isfinite(low) and np.isfinite(high) and low <= high):
        return {"band_low": None, "band_high": None, "band_inside": None}
    day = pd.Timestamp(target)
    inside = bool(low <= float(closes[day]) <= high) if day in closes.index else None
    return {"band_low": low, "band_high": high, "band_inside": inside}


def band_summary(rows: list[dict], level: float = 0.8) -> dict:
    """Live coverage of the range forecast's band: how often the close landed inside it."""
    banded = [r for r in rows if r.get("band_low") is not None]
    resolved = [r for r in banded if r.get("band_inside") is not None]
    inside = sum(bool(r["band_inside"]) for r in resolved)
    return {"level": level, "n": len(banded), "resolved": len(resolved), "inside": inside,
            "coverage": inside / len(resolved) if resolved else None}


def _brier(p: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean((p - y) ** 2))


def summarize(rows: list[dict], closes: pd.Series, window: int = ROLLING_WINDOW) -> dict:
    """Hit rate and Brier of the resolved rows beside always-UP on the same sessions, their
    rolling values over the last `window` resolved sessions, and a reliability table."""
    resolved = [r for r in rows if r["realized"] is not None]
    base = always_up_probability(closes) if len(closes) else pd.Series(dtype=float)
    out: dict = {"n": len(rows), "resolved": len(resolved), "pending": len(rows) - len(resolved),
                 "window": window, "model": None, "always_up": None, "rolling": [], "reliability": [],
                 "band": band_summary(rows)}
    if not resolved:
        return out
    y = np.array([r["realized"] == "UP" for r in resolved], dtype=float)
    p = np.array([r["probability"] for r in resolved])
    # Abstentions (no calls) are left out of the hit rate (NaN), and counted.
    hit = np.array([np.nan if r.get("no_call") else float(bool(r["correct"])) for r in resolved], dtype=float)
    out["abstentions"] = int(np.isnan(hit).sum())
    base_p = np.array([base.get(pd.Timestamp(r["as_of"]), np.nan) for r in resolved], dtype=float)
    base_p = np.where(np.isnan(base_p), 0.5, base_p)  # only the first stored session lacks a history
    called = ~np.isnan(hit)
    out["model"] = {"hit_rate": float(hit[called].mean()) if called.any() else None, "calls": int(called.sum()),
                    "brier": _brier(p, y)}
    out["always_up"] = {"hit_rate": float(y.mean()), "brier": _brier(base_p, y)}
    frame = pd.DataFrame({"hit": hit, "up": y, "brier": (p - y) ** 2, "base_brier": (base_p - y) ** 2},
                         index=[r["as_of"] for r in resolved])
    rolling = frame.rolling(window, min_periods=1).mean()  # pandas' mean skips the abstentions' NaN
    sizes = np.minimum(np.arange(1, len(frame) + 1), window)
    out["rolling"] = [
        {"as_of": day, "sessions": int(n), "hit_rate": float(row["hit"]), "always_up_hit_rate": float(row["up"]),
         "brier": float(row["brier"]), "always_up_brier": float(row["base_brier"])}
        for (day, row), n in zip(rolling.iterrows(), sizes, strict=True)
    ]
    out["reliability"] = reliability(y, p, bins=min(10, max(1, len(resolved) // 5)))
    return out


def reliability(y: np.ndarray, p: np.ndarray, bins: int) -> list[dict]:
    """Equal-count bins of forecast P(UP): rows, mean forecast, observed UP rate, as
    `sensex.models.reliability.reliability_table` (not imported: it brings scipy.stats into
    the dashboard's process for nothing). Bins holding one repeated probability are merged,
    so each forecast level is one point."""
    order = np.argsort(p, kind="stable")
    merged: list[dict] = []
    for chunk in np.array_split(order, min(bins, max(len(p), 1))):
        if not len(chunk):
            continue
        row = {"n": int(len(chunk)), "mean_probability": float(p[chunk].mean()),
               "observed_up_rate": float(y[chunk].mean()), "low": float(p[chunk].min()), "high": float(p[chunk].max())}
        last = merged[-1] if merged else None
        if last is not None and round(last["mean_probability"], 4) == round(row["mean_probability"], 4):
            n = last["n"] + row["n"]
            last["observed_up_rate"] = (last["observed_up_rate"] * last["n"] + row["observed_up_rate"] * row["n"]) / n
            last["n"], last["high"] = n, row["high"]
        else:
            merged.append(dict(row))
    return merged


def track_record(records: Iterable[dict], closes: pd.Series, window: int = ROLLING_WINDOW) -> dict:
    """Everything the track-record page shows: live rows newest first, the rest apart with
    their reason, and the summary of the live ones."""
    closes = closes.dropna().sort_index()
    live, apart = split_live(records)
    rows = session_rows(live, closes)
    return {
        "rows": rows[::-1],
        "not_live": session_rows(apart, closes)[::-1],
        "summary": summarize(rows, closes, window),
    }
