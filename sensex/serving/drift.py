"""Drift of the served model, three ways, each with a severity (ok, watch, retrain) and a reason:

- `performance`: the model scored on labelled sessions after its test window, against its own
  test metrics (worse by more than the promotion config's `drift_tolerance`: retrain; by more
  than half of it: watch);
- `features`: population stability index (PSI) per feature family between the training window
  and the last N sessions (PSI >= 0.10: watch, >= 0.25: retrain, the usual reading of PSI);
- `live`: the logged forecasts whose target session has closed (one per as-of session and mode,
  the first one issued; back-dated look-backs reported apart), hit rate and Brier beside
  always-UP on the same sessions, with 90% intervals.

Everything comes from the served bundle and the store: no MLflow, so `GET /drift` can answer in
the API process. The report's overall severity is the worst of the three.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from sensex import jsonlog, store
from sensex.config import PromotionConfig
from sensex.errors import DataError
from sensex.models.bundle import Bundle
from sensex.settings import Settings

SEVERITIES = ("ok", "watch", "retrain")
PSI_WATCH, PSI_RETRAIN = 0.10, 0.25
MIN_SESSIONS = 20  # labelled sessions (or closed forecasts) before a verdict means anything
DEFAULT_RECENT_SESSIONS = 60
Z90 = 1.6449
RECOMMENDATION = {
    "ok": "no action",
    "watch": "keep serving and check again after more sessions; retrain if it persists",
    "retrain": "retrain and re-run `sensex registry setup`",
}


def worst(*severities: str) -> str:
    return max(severities, key=SEVERITIES.index)


# -- performance on unseen sessions -----------------------------------------------------------------
def performance(bundle: Bundle, panel, start: str | None, end: str | None, tolerance: float) -> dict:
    from sensex.models.evaluate import score

    test_end = pd.Timestamp(bundle.meta.segments["test"][1])
    start = start or str((test_end + pd.Timedelta(days=1)).date())
    end = end or str(panel.dates[-1].date())
    advice = (f"drift needs {MIN_SESSIONS} labelled sessions not seen in training (the model's test window ends"
              f" {test_end.date()}): wait for new data or pass --start/--end.")
    try:
        scored = score(bundle, panel, start, end)
    except DataError:
        return {"severity": "ok", "judged": False, "reason": f"Too few sessions from {start} to {end}: {advice}",
                "n": 0, "window": [start, end]}
    if scored.n < MIN_SESSIONS:
        return {"severity": "ok", "judged": False, "reason": f"Only {scored.n} sessions from {start} to {end}: {advice}",
                "n": scored.n, "window": [scored.start, scored.end]}
    changes, severities = {}, []
    for key, worse_if_lower in (("accuracy", True), ("auc", True), ("brier", False)):
        reference, current = bundle.meta.test_metrics.get(key), scored.metrics.get(key)
        if reference is None or current is None or not math.isfinite(current):
            continue
        loss = (reference - current) if worse_if_lower else (current - reference)
        changes[key] = {"reference": reference, "current": current, "change": current - reference}
        severities.append("retrain" if loss > tolerance else "watch" if loss > tolerance / 2 else "ok")
    severity = worst("ok", *severities)
    drifted = [k for k, s in zip(changes, severities, strict=True) if s == "retrain"]
    text = ", ".join(f"{k} {v['reference']:.3f} -> {v['current']:.3f}" for k, v in changes.items())
    verdict = {"ok": "within", "watch": "beyond half of", "retrain": "beyond"}[severity]
    return {"severity": severity, "judged": True,
            "reason": f"On {scored.n} unseen sessions ({scored.start}..{scored.end}) {text}: {verdict} the tolerance"
                      f" of {tolerance:.2f} against the test window.",
            "n": scored.n, "window": [scored.start, scored.end], "metrics": changes, "drifted_metrics": drifted,
            "tolerance": tolerance, "baselines": scored.baselines}


# -- feature drift (PSI) ----------------------------------------------------------------------------
def psi(expected: np.ndarray, actual: np.ndarray, bins: int = 10) -> float | None:
    """Population stability index of `actual` against `expected`, on the deciles of `expected`."""
    expected, actual = expected[np.isfinite(expected)], actual[np.isfinite(actual)]
    if len(expected) < bins * 5 or len(actual) < bins:
        return None
    edges = np.unique(np.quantile(expected, np.linspace(0, 1, bins + 1)[1:-1]))
    e = np.bincount(np.searchsorted(edges, expected, "right"), minlength=len(edges) + 1) / len(expected)
    a = np.bincount(np.searchsorted(edges, actual, "right"), minlength=len(edges) + 1) / len(actual)
    e, a = np.clip(e, 1e-4, None), np.clip(a, 1e-4, None)  # an empty bin would make the index infinite
    return float(np.sum((a - e) * np.log(a / e)))


def features(bundle: Bundle, panel, recent_sessions: int = DEFAULT_RECENT_SESSIONS) -> dict:
    train_start, train_end = (pd.Timestamp(d) for d in bundle.meta.segments["train"])
    in_train = (panel.dates >= train_start) & (panel.dates <= train_end)
    recent = np.zeros(len(panel.dates), dtype=bool)
    recent[-recent_sessions:] = True
    recent &= panel.dates > train_end
    if in_train.sum() < MIN_SESSIONS or recent.sum() < MIN_SESSIONS:
        return {"severity": "ok", "judged": False, "families": [],
                "reason": f"Only {int(recent.sum())} sessions after the training window among the last {recent_sessions}:"
                          f" feature drift needs {MIN_SESSIONS}."}
    family_of = {row["name"]: row["family"] for row in bundle.meta.feature_registry}
    scores: dict[str, list[float]] = {}
    for f, name in enumerate(panel.stock_feature_names):
        trained = panel.stock[in_train, :, f][panel.available[in_train]]
        latest = panel.stock[recent, :, f][panel.available[recent]]
        value = psi(trained, latest)
        if value is not None:
            scores.setdefault(family_of.get(name, "other"), []).append(value)
    for m in range(len(panel.market_feature_names)):
        value = psi(panel.market[in_train, m], panel.market[recent, m])
        if value is not None:
            scores.setdefault("market context", []).append(value)
    families = sorted(({"family": family, "psi": round(float(np.mean(values)), 4),
                        "max_feature_psi": round(float(np.max(values)), 4), "features": len(values),
                        "severity": "retrain" if np.mean(values) >= PSI_RETRAIN else
                        "watch" if np.mean(values) >= PSI_WATCH else "ok"}
                       for family, values in scores.items()), key=lambda row: -row["psi"])
    dates = panel.dates[recent]
    window = {"training": [str(train_start.date()), str(train_end.date())],
              "recent": [str(dates[0].date()), str(dates[-1].date())], "recent_sessions": int(recent.sum())}
    if not families:
        return {"severity": "ok", "judged": False, "families": [], **window,
                "reason": "No feature has enough defined values to compare."}
    top = families[0]
    severity = worst("ok", *(row["severity"] for row in families))
    return {"severity": severity, "judged": True, "families": families, **window,
            "reason": f"Largest shift: {top['family']} PSI {top['psi']:.3f} (watch at {PSI_WATCH}, retrain at"
                      f" {PSI_RETRAIN}) between training {window['training'][0]}..{window['training'][1]} and the"
                      f" last {window['recent_sessions']} sessions {window['recent'][0]}..{window['recent'][1]}."}


# -- the live record --------------------------------------------------------------------------------
def wilson(hits: int, n: int, z: float = Z90) -> list[float]:
    if n == 0:
        return [0.0, 1.0]
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [round(centre - half, 4), round(centre + half, 4)]


def _mean_interval(values: np.ndarray) -> list[float] | None:
    if len(values) < 2:
        return None  # one value has no spread: no interval
    half = Z90 * float(np.std(values, ddof=1)) / math.sqrt(len(values))
    return [round(float(values.mean()) - half, 4), round(float(values.mean()) + half, 4)]


def closed_forecasts(settings: Settings, index_symbol: str, mode: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(live, back-dated): one row per as-of session (the first forecast issued for it), with the
    realized outcome, for forecasts of `mode` whose target session is stored."""
    columns = ["as_of", "target_date", "probability", "direction", "model_version", "up"]
    records = jsonlog.read(settings.logs_dir / jsonlog.PREDICTION_LOG)
    if not records or not store.exists(settings.store_dir):
        return pd.DataFrame(columns=columns), pd.DataFrame(columns=columns)
    closes = store.read(settings.store_dir, symbols=[index_symbol]).set_index("date")["close"]
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
               "direction": prediction.get("direction"), "model_version": record.get("model_version"),
               "up": float(closes[target] > closes[as_of])}
        (back if record.get("back_dated") else rows).setdefault(as_of, row)  # the first issued counts
    return pd.DataFrame(list(rows.values()), columns=columns), pd.DataFrame(list(back.values()), columns=columns)


def _record_summary(table: pd.DataFrame, up_probability: float) -> dict:
    y, p = table["up"].to_numpy(float), table["probability"].to_numpy(float)
    hits = int(((p >= 0.5) == (y == 1)).sum())
    brier, up_brier = (p - y) ** 2, (up_probability - y) ** 2
    return {"n": int(len(table)), "hit_rate": round(hits / len(table), 4), "hit_rate_interval": wilson(hits, len(table)),
            "brier": round(float(brier.mean()), 4), "brier_interval": _mean_interval(brier),
            "always_up": {"hit_rate": round(float(y.mean()), 4), "hit_rate_interval": wilson(int(y.sum()), len(table)),
                          "brier": round(float(up_brier.mean()), 4)},
            "brier_minus_always_up_interval": _mean_interval(brier - up_brier),
            "first": str(table["as_of"].min()), "last": str(table["as_of"].max())}


def live(settings: Settings, bundle: Bundle, index_symbol: str, mode: str) -> dict:
    record, back_dated = closed_forecasts(settings, index_symbol, mode)
    up_probability = float((bundle.meta.baselines or {}).get("always_up", {}).get("up_share", 0.5))
    out: dict = {"back_dated": _record_summary(back_dated, up_probability) if len(back_dated) else {"n": 0}}
    if len(record) < MIN_SESSIONS:
        return {**out, "severity": "ok", "judged": False, "n": int(len(record)),
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
            "reason": f"{summary['n']} live forecasts ({summary['first']}..{summary['last']}): hit rate"
                      f" {summary['hit_rate']:.3f} {summary['hit_rate_interval']}, Brier {summary['brier']:.4f} against"
                      f" always-UP's {summary['always_up']['hit_rate']:.3f} and {summary['always_up']['brier']:.4f}:"
                      f" {verdict}."}


def _finite(value):
    """The report with every NaN or infinite float (an AUC on one class, say) as None."""
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    return value


# -- the report -------------------------------------------------------------------------------------
def drift_report(settings: Settings, bundle: Bundle, info: dict, universe, start: str | None = None,
                 end: str | None = None, recent_sessions: int = DEFAULT_RECENT_SESSIONS,
                 promotion: PromotionConfig | None = None) -> dict:
    from sensex.features.dataset import load_panel

    promotion = promotion or PromotionConfig()
    panel = load_panel(settings, universe, mode=bundle.meta.mode)
    parts = {"performance": performance(bundle, panel, start, end, promotion.drift_tolerance),
             "features": features(bundle, panel, recent_sessions),
             "live": live(settings, bundle, universe.index_symbol, bundle.meta.mode)}
    parts = {name: _finite(part) for name, part in parts.items()}  # JSON has no NaN: an undefined figure is null
    severity = worst(*(part["severity"] for part in parts.values()))
    worst_parts = [name for name, part in parts.items() if part["severity"] == severity and severity != "ok"]
    perf = parts["performance"]
    return {
        "version": info.get("version"), "run_id": info.get("run_id"), "mode": bundle.meta.mode, **parts,
        "severity": severity, "recommendation": RECOMMENDATION[severity],
        "reason": (f"{', '.join(worst_parts)} say {severity}." if worst_parts else "No part shows drift."),
        # The report before it had three parts (`sensex daily` and scripts read these): kept.
        "drift_detected": perf["severity"] == "retrain", "drifted_metrics": perf.get("drifted_metrics", []),
        "metrics": perf.get("metrics", {}), "window": perf.get("window"), "n": perf.get("n", 0),
        "tolerance": promotion.drift_tolerance, "baselines": perf.get("baselines", {}),
    }
