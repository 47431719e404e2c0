"""Drift of the served model, three ways, each with a severity (ok, watch, retrain) and a reason;
a part with too few sessions for a verdict is `judged: false` with severity `not_judged`, never `ok`:

- `performance`: the model scored on labelled sessions after its test window, against its own
  test metrics (worse by more than the promotion config's `drift_tolerance`: retrain; by more
  than half of it: watch);
- `features`: population stability index (PSI) per feature family between the training window
  and the last N sessions, judged against the PSI that N-session windows inside the training
  window reach (watch above their 90th percentile, retrain above their maximum; never below the
  usual 0.10 and 0.25): a model judged right after training is `ok`;
- `live` (`sensex.monitoring.live_record`): the logged forecasts whose target session has
  closed, hit rate and Brier beside always-UP on the same sessions, with 90% intervals.

Everything comes from the served bundle and the store: no MLflow, so `GET /drift` can answer in
the API process. The report's overall severity is the worst of the judged parts; `not_judged` when
no part is judged.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from sensex.core.errors import ConfigError, DataError
from sensex.core.settings import Settings
from sensex.models.bundle import Bundle
from sensex.models.config import PromotionConfig
from sensex.monitoring.live_record import (  # noqa: F401 - importable from here too
    MIN_SESSIONS,
    NOT_JUDGED,
    closed_forecasts,
    live,
    wilson,
)

if TYPE_CHECKING:  # the API imports this module's constants at start; pandas comes with a report
    pass

SEVERITIES = ("ok", "watch", "retrain")
PSI_WATCH, PSI_RETRAIN = 0.10, 0.25
DEFAULT_RECENT_SESSIONS = 60
RECOMMENDATION = {
    "ok": "no action",
    "watch": "keep serving and check again after more sessions; retrain if it persists",
    "retrain": "retrain and re-run `sensex registry setup`",
    NOT_JUDGED: "no verdict yet: check again once more sessions and closed forecasts are stored",
}


def worst(*severities: str) -> str:
    """The worst verdict among the judged severities; `not_judged` when none is judged."""
    judged = [severity for severity in severities if severity != NOT_JUDGED]
    return max(judged, key=SEVERITIES.index) if judged else NOT_JUDGED


# -- performance on unseen sessions -----------------------------------------------------------------
def performance(bundle: Bundle, panel, start: str | None, end: str | None, tolerance: float) -> dict:
    import pandas as pd

    from sensex.models.evaluate import score

    test_end = pd.Timestamp(bundle.meta.segments["test"][1])
    start = start or str((test_end + pd.Timedelta(days=1)).date())
    end = end or str(panel.dates[-1].date())
    advice = (f"drift needs {MIN_SESSIONS} labelled sessions not seen in training (the model's test window ends"
              f" {test_end.date()}): wait for new data or pass --start/--end.")
    try:
        scored = score(bundle, panel, start, end)
    except DataError:
        return {"severity": NOT_JUDGED, "judged": False, "reason": f"Too few sessions from {start} to {end}: {advice}",
                "n": 0, "window": [start, end]}
    if scored.n < MIN_SESSIONS:
        return {"severity": NOT_JUDGED, "judged": False, "reason": f"Only {scored.n} sessions from {start} to {end}: {advice}",
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
PSI_BINS = 10


def decile_edges(expected: np.ndarray, bins: int = PSI_BINS) -> np.ndarray | None:
    """The inner bin edges (deciles) of the finite values of `expected`; None when too few to bin."""
    expected = expected[np.isfinite(expected)]
    if len(expected) < bins * 5:
        return None
    return np.unique(np.quantile(expected, np.linspace(0, 1, bins + 1)[1:-1]))


def psi_from_counts(expected: np.ndarray, actual: np.ndarray) -> float:
    """PSI from per-bin counts of the reference and of the compared values."""
    e, a = expected / expected.sum(), actual / actual.sum()
    e, a = np.clip(e, 1e-4, None), np.clip(a, 1e-4, None)  # an empty bin would make the index infinite
    return float(np.sum((a - e) * np.log(a / e)))


def psi(expected: np.ndarray, actual: np.ndarray, bins: int = PSI_BINS) -> float | None:
    """Population stability index of `actual` against `expected`, on the deciles of `expected`."""
    expected, actual = expected[np.isfinite(expected)], actual[np.isfinite(actual)]
    if len(expected) < bins * 5 or len(actual) < bins:
        return None
    edges = decile_edges(expected, bins)
    e = np.bincount(np.searchsorted(edges, expected, "right"), minlength=len(edges) + 1)
    a = np.bincount(np.searchsorted(edges, actual, "right"), minlength=len(edges) + 1)
    return psi_from_counts(e, a)


def psi_severity(value: float, watch: float = PSI_WATCH, retrain: float = PSI_RETRAIN) -> str:
    return "retrain" if value >= retrain else "watch" if value >= watch else "ok"


def features(bundle: Bundle, panel, recent_sessions: int = DEFAULT_RECENT_SESSIONS) -> dict:
    """PSI per feature family of the last `recent_sessions` after training against the training
    window, each judged against the PSI that windows of the same length inside training show
    (`family_thresholds`): volatility clusters, so a 60-session window of a persistent feature
    differs from a ten-year distribution even when nothing has changed."""
    import pandas as pd

    train_start, train_end = (pd.Timestamp(d) for d in bundle.meta.segments["train"])
    in_train = (panel.dates >= train_start) & (panel.dates <= train_end)
    first_unseen = int(np.searchsorted(panel.dates, train_end, "right"))
    last = len(panel.dates) - 1
    unseen = max(0, min(recent_sessions, last + 1 - first_unseen))
    if in_train.sum() < MIN_SESSIONS or unseen < MIN_SESSIONS:
        return {"severity": NOT_JUDGED, "judged": False, "families": [],
                "reason": f"Only {unseen} sessions after the training window among the last {recent_sessions}:"
                          f" feature drift needs {MIN_SESSIONS}."}
    counts = _feature_counts(bundle, panel, in_train)
    thresholds = family_thresholds(counts, in_train, recent_sessions)
    current = _family_psi(counts, np.array([last]), np.array([max(last - recent_sessions + 1, first_unseen)]))
    families = []
    for family, values in current.items():
        if not np.isfinite(values[0]):
            continue
        watch, retrain = thresholds.get(family, (PSI_WATCH, PSI_RETRAIN))
        families.append({"family": family, "psi": round(float(values[0]), 4), "features": _feature_number(counts, family),
                         "watch_at": watch, "retrain_at": retrain, "severity": psi_severity(float(values[0]), watch, retrain)})
    families.sort(key=lambda row: -row["psi"] / row["retrain_at"])
    dates = panel.dates[last - unseen + 1:]
    window = {"training": [str(train_start.date()), str(train_end.date())],
              "recent": [str(dates[0].date()), str(dates[-1].date())], "recent_sessions": int(unseen)}
    if not families:
        return {"severity": NOT_JUDGED, "judged": False, "families": [], **window,
                "reason": "No feature has enough defined values to compare."}
    top = families[0]
    severity = worst("ok", *(row["severity"] for row in families))
    return {"severity": severity, "judged": True, "families": families, **window,
            "reason": f"Largest shift: {top['family']} PSI {top['psi']:.3f} (watch at {top['watch_at']}, retrain at"
                      f" {top['retrain_at']}: what {recent_sessions}-session windows inside training reach) between"
                      f" training {window['training'][0]}..{window['training'][1]} and the last"
                      f" {window['recent_sessions']} sessions {window['recent'][0]}..{window['recent'][1]}."}



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
    promotion = promotion or PromotionConfig()
    model_parts = model_and_data_parts(settings, bundle, universe, start, end, recent_sessions, promotion)
    return assemble(info, bundle, promotion, model_parts, live_part(settings, bundle, universe))


def model_and_data_parts(settings: Settings, bundle: Bundle, universe, start: str | None = None,
                         end: str | None = None, recent_sessions: int = DEFAULT_RECENT_SESSIONS,
                         promotion: PromotionConfig | None = None) -> dict:
    """The parts that change only with the model or the stored data (performance, feature PSI): the
    costly ones, which a server caches on those two alone."""
    from sensex.features.dataset import load_panel

    promotion = promotion or PromotionConfig()
    panel = load_panel(settings, universe, mode=bundle.meta.mode)
    parts = {"performance": performance(bundle, panel, start, end, promotion.drift_tolerance),
             "features": features(bundle, panel, recent_sessions)}
    return {name: _finite(part) for name, part in parts.items()}  # JSON has no NaN: an undefined figure is null


def live_part(settings: Settings, bundle: Bundle, universe, closes=None) -> dict:
    """The live record: changes with every logged forecast, cheap to read again (`closes`: the
    index's stored closes, when the caller holds them)."""
    return _finite(live(settings, bundle, universe.index_symbol, bundle.meta.mode, closes))


def assemble(info: dict, bundle: Bundle, promotion: PromotionConfig, model_parts: dict, live_record: dict) -> dict:
    """The drift report from its three parts, the worst severity and what to do about it."""
    parts = {**model_parts, "live": live_record}
    severity = worst(*(part["severity"] for part in parts.values()))
    perf = parts["performance"]
    return {
        "version": info.get("version"), "run_id": info.get("run_id"), "mode": bundle.meta.mode, **parts,
        "severity": severity, "recommendation": RECOMMENDATION[severity], "reason": overall_reason(parts, severity),
        # The report before it had three parts (`sensex daily` and scripts read these): kept.
        "drift_detected": perf["severity"] == "retrain", "drifted_metrics": perf.get("drifted_metrics", []),
        "metrics": perf.get("metrics", {}), "window": perf.get("window"), "n": perf.get("n", 0),
        "tolerance": promotion.drift_tolerance, "baselines": perf.get("baselines", {}),
    }


def overall_reason(parts: dict[str, dict], severity: str) -> str:
    """One sentence for the report's overall severity: the parts that set it, and those not judged
    (a part without a verdict is never counted as showing no drift)."""
    unjudged = [name for name, part in parts.items() if part["severity"] == NOT_JUDGED]
    if severity == NOT_JUDGED:
        return (f"Nothing could be judged yet: {', '.join(unjudged)} need more sessions (each part's reason says"
                " how many).")
    flagged = [name for name, part in parts.items() if part["severity"] == severity and severity != "ok"]
    verdict = f"{', '.join(flagged)} say {severity}" if flagged else "No judged part shows drift"
    pending = f"; not judged yet: {', '.join(unjudged)}" if unjudged else ""
    return f"{verdict}{pending}."


# -- drift over time --------------------------------------------------------------------------------
DEFAULT_HISTORY_STEP = 20


def _binned_counts(values: np.ndarray, counted: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Cumulative per-bin counts over sessions, (D + 1, bins): the counts of sessions lo..hi are
    `cum[hi + 1] - cum[lo]`, so every as-of point costs one subtraction, not a new binning.
    `values` is (D,) or (D, S); `counted` says which of them count (finite, member available)."""
    values = values.reshape(len(values), -1)
    counted = counted.reshape(len(values), -1) & np.isfinite(values)
    bins = len(edges) + 1
    codes = np.searchsorted(edges, np.where(counted, values, 0.0), "right")
    session = np.broadcast_to(np.arange(len(values))[:, None], values.shape)
    per_session = np.bincount((session * bins + codes)[counted], minlength=len(values) * bins)
    return np.vstack([np.zeros((1, bins)), np.cumsum(per_session.reshape(len(values), bins), axis=0)])


def _feature_counts(bundle: Bundle, panel, in_train: np.ndarray) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Per feature: (family, training-window counts per decile bin, cumulative counts per session).
    The deciles come from the training window once; later sessions are only counted into them."""
    family_of = {row["name"]: row["family"] for row in bundle.meta.feature_registry}
    columns = [(family_of.get(name, "other"), panel.stock[:, :, f], panel.available)
               for f, name in enumerate(panel.stock_feature_names)]
    columns += [("market context", panel.market[:, m], np.ones(len(panel.dates), dtype=bool))
                for m in range(len(panel.market_feature_names))]
    out = []
    for family, values, counted in columns:
        trained = values[in_train][counted[in_train] & np.isfinite(values[in_train])]
        edges = decile_edges(trained)
        if edges is None:
            continue
        expected = np.bincount(np.searchsorted(edges, trained, "right"), minlength=len(edges) + 1)
        out.append((family, expected, _binned_counts(values, counted, edges)))
    return out


def _points(panel, after: int, step: int) -> list[int]:
    """Session positions every `step` sessions after position `after` (the training window's last
    session), anchored there so the points stay put as data arrives; the last stored session too."""
    last = len(panel.dates) - 1
    points = list(range(after + step, last + 1, step))
    if last > after and (not points or points[-1] != last):
        points.append(last)
    return points


def _family_psi(counts, points: np.ndarray, lows: np.ndarray) -> dict[str, np.ndarray]:
    """Per family, the mean PSI over its features of the sessions lows[i]..points[i] against the
    training window, for every point at once from the cumulative counts (NaN: too few values)."""
    by_family: dict[str, list[np.ndarray]] = {}
    for family, expected, cumulative in counts:
        actual = cumulative[points + 1] - cumulative[lows]  # (P, bins)
        total = actual.sum(axis=1)
        # As `psi_from_counts`, for every point at once.
        e = np.clip(expected / expected.sum(), 1e-4, None)
        a = np.clip(actual / np.maximum(total, 1)[:, None], 1e-4, None)
        value = np.sum((a - e) * np.log(a / e), axis=1)
        value[total < PSI_BINS] = np.nan  # as `psi`: too few values in the window to judge
        by_family.setdefault(family, []).append(value)
    out = {}
    for family, values in by_family.items():
        stacked = np.vstack(values)  # (features, P)
        defined = np.isfinite(stacked).sum(axis=0)
        out[family] = np.where(defined > 0, np.nansum(stacked, axis=0) / np.maximum(defined, 1), np.nan)
    return out


def _feature_number(counts, family: str) -> int:
    return sum(1 for name, _, _ in counts if name == family)


NULL_STEP = 10  # sessions between the training-window windows that calibrate the thresholds


def family_thresholds(counts, in_train: np.ndarray, recent: int) -> dict[str, tuple[float, float]]:
    """Per family, (watch, retrain) PSI: the 90th percentile and the maximum of the family PSI of
    `recent`-session windows inside the training window, never below the usual 0.10 and 0.25.
    A window after training is then judged against windows the model was fit on, like with like."""
    positions = np.flatnonzero(in_train)
    first, last = positions[0], positions[-1]
    points = np.arange(first + recent - 1, last + 1, NULL_STEP)
    if len(points) < 5:  # a training window too short to calibrate: the usual reading
        return {}
    null = _family_psi(counts, points, points - recent + 1)
    out = {}
    for family, values in null.items():
        values = values[np.isfinite(values)]
        if len(values) >= 5:
            out[family] = (round(max(PSI_WATCH, float(np.quantile(values, 0.9))), 4),
                           round(max(PSI_RETRAIN, float(values.max())), 4))
    return out


def _features_over_time(points: np.ndarray, first_unseen: int, recent: int, counts,
                        thresholds: dict[str, tuple[float, float]]) -> list[dict]:
    """Per point, the family PSI of its trailing `recent` sessions (those after training only),
    each judged against its family's thresholds."""
    lows = np.maximum(points - recent + 1, first_unseen)
    sessions = points - lows + 1
    by_family = _family_psi(counts, points, lows)
    out = []
    for i, n in enumerate(sessions):
        families = {}
        if n >= MIN_SESSIONS:
            for family, values in sorted(by_family.items()):
                if np.isfinite(values[i]):
                    watch, retrain = thresholds.get(family, (PSI_WATCH, PSI_RETRAIN))
                    families[family] = {"psi": round(float(values[i]), 4),
                                        "severity": psi_severity(float(values[i]), watch, retrain)}
        severity = worst("ok", *(row["severity"] for row in families.values())) if families else None
        out.append({"sessions": int(max(n, 0)), "severity": severity, "families": families})
    return out


def _performance_at(point: int, rows: np.ndarray, probabilities: np.ndarray, labels: np.ndarray,
                    up_probability: float, recent: int, dates) -> dict:
    """AUC, Brier and accuracy of the model and always-UP's on the last `recent` scored sessions
    whose label is known at `point`: the label of row r is about session r + 1, so r < point."""
    from sensex.models.evaluate import roc_auc

    hi = int(np.searchsorted(rows, point, "left"))
    lo = max(0, hi - recent)
    n = hi - lo
    empty = {"n": n, "first": None, "last": None, "auc": None, "brier": None, "accuracy": None,
             "always_up_brier": None, "always_up_accuracy": None}
    if n < MIN_SESSIONS:
        return empty
    y, p = labels[lo:hi], probabilities[lo:hi]
    return {"n": n, "first": str(dates[rows[lo]].date()), "last": str(dates[rows[hi - 1]].date()),
            "auc": round(roc_auc(y, p), 4), "brier": round(float(np.mean((p - y) ** 2)), 4),
            "accuracy": round(float(np.mean((p >= 0.5) == (y == 1))), 4),
            "always_up_brier": round(float(np.mean((up_probability - y) ** 2)), 4),
            "always_up_accuracy": round(float(np.mean(y)), 4)}


def history(bundle: Bundle, panel, step: int = DEFAULT_HISTORY_STEP, recent: int = DEFAULT_RECENT_SESSIONS) -> dict:
    """Drift over time: as-of points every `step` sessions from the end of the model's training
    window to the last stored session, each with the feature PSI per family of its trailing `recent`
    sessions against the training window, and the model's rolling AUC and Brier (beside always-UP's)
    on its trailing `recent` labelled sessions after the validation window (the network learnt on
    training and was stopped and calibrated on validation: only later sessions are unseen).

    No look-ahead: a point dated D reads features of sessions <= D and labels whose target session
    is <= D, so data arriving later never moves it. The post-training sessions are scored in one
    batched pass and the training deciles are computed once per feature, then only counted into.
    """
    import pandas as pd

    from sensex.models.evaluate import predict_rows

    if step < 1 or recent < MIN_SESSIONS:
        raise ConfigError(f"Drift history needs a step of at least 1 session and a window of at least {MIN_SESSIONS}"
                          f" sessions (got step {step}, window {recent}): pass larger values.")
    train_start, train_end = (pd.Timestamp(d) for d in bundle.meta.segments["train"])
    valid_end = pd.Timestamp(bundle.meta.segments["valid"][1])
    dates = panel.dates
    in_train = (dates >= train_start) & (dates <= train_end)
    after_train = int(np.searchsorted(dates, train_end, "right")) - 1
    after_valid = int(np.searchsorted(dates, valid_end, "right")) - 1
    points = _points(panel, after_train, step)
    base = {"mode": bundle.meta.mode, "step": step, "recent_sessions": recent,
            "training": [str(train_start.date()), str(train_end.date())], "validation_end": str(valid_end.date()),
            "thresholds": {"watch": PSI_WATCH, "retrain": PSI_RETRAIN}, "min_sessions": MIN_SESSIONS}
    if not points or in_train.sum() < MIN_SESSIONS:
        return {**base, "families": [], "points": [],
                "reason": f"No session is stored after the training window ({train_end.date()}): the history starts"
                          " once there is one."}
    counts = _feature_counts(bundle, panel, in_train)
    thresholds = family_thresholds(counts, in_train, recent)
    base["family_thresholds"] = {family: {"watch": watch, "retrain": retrain}
                                 for family, (watch, retrain) in sorted(thresholds.items())}
    positions = np.arange(len(dates))
    rows = positions[(positions > after_valid) & np.isfinite(panel.label) & (positions >= bundle.window - 1)]
    probabilities = predict_rows(bundle, panel, rows)[0] if len(rows) else np.empty(0)
    labels = panel.label[rows]
    trained_labels = panel.label[in_train & np.isfinite(panel.label)]
    up_share = (bundle.meta.baselines or {}).get("always_up", {}).get("up_share")
    up_probability = float(up_share if up_share is not None else trained_labels.mean())
    feature_points = _features_over_time(np.asarray(points), after_train + 1, recent, counts, thresholds)
    out = [{"date": str(dates[point].date()), "features": feature,
            "performance": _performance_at(point, rows, probabilities, labels, up_probability, recent, dates)}
           for point, feature in zip(points, feature_points, strict=True)]
    families = sorted({family for point in out for family in point["features"]["families"]})
    return _finite({**base, "families": families, "points": out,
                    "reason": f"{len(out)} as-of points every {step} sessions from {out[0]['date']} to {out[-1]['date']}:"
                              f" feature PSI of the last {recent} sessions after training against training"
                              f" {base['training'][0]}..{base['training'][1]}; AUC and Brier on the last {recent}"
                              f" labelled sessions after validation ({valid_end.date()}) known on each date."})
