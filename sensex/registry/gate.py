"""The promotion gate that refuses a coin.

Candidate, current production and the baselines are scored on the SAME sessions: the
candidate's test window, less any session the production model trained or validated on (so none
of them learnt from a row they are judged on). A candidate is refused when, on those rows,

- its P(UP) is collapsed: standard deviation under `min_probability_sd` (0.01);
- its Brier score is not below always-UP's (the base rate the training window saw);
- its AUC's 90% block-bootstrap interval lies entirely at or below the best naive baseline's AUC
  (always-UP's 0.5 and previous-day direction's);
- it is worse than the best learned baseline of its mode (`logreg`, `gbm`; pre-open also
  `sp500_rule`) by more than chance allows: the 90% paired block-bootstrap interval of its AUC
  minus that baseline's lies entirely below 0, or of its Brier minus that baseline's entirely
  above 0 (`not_worse_than_baselines`). Paired, because both are scored on the same sessions:
  two overlapping intervals say little, the interval of the difference says which is better;
- (the original design's rules) its accuracy is below `min_accuracy` or its AUC below `min_auc`;
- it carries a range forecast whose QLIKE on those sessions is not strictly below EWMA's (both
  from the records saved in the bundle, nothing refit; `range_beats_ewma`). A bundle without a
  range part is judged on its direction alone.

Each refusal is one sentence with the figures. Passing says nothing about beating production:
`beats_production` says that, on the same rows, when production did not see them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from sensex.features.build import Panel
from sensex.models.bundle import Bundle
from sensex.models.config import PromotionConfig
from sensex.models.evaluate import bootstrap_intervals, classification_metrics, paired_difference, predict_rows
from sensex.models.uncertainty import LEARNED_BASELINES as LEARNED  # the model card judges against the same ones

NAIVE = ("always_up", "prev_day")
MIN_SHARED_ROWS = 60  # fewer unseen sessions than this: production is not compared


@dataclass
class GateReport:
    rows: dict  # start, end, n, basis
    candidate: dict  # accuracy, auc, auc_interval, brier, probability_sd
    baselines: dict  # name -> accuracy, auc, brier
    production: dict | None = None
    failures: list[str] = field(default_factory=list)
    beats_production: bool | None = None
    range: dict | None = None  # n, start, end, model (QLIKE), ewma (QLIKE); None without a range part

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict:
        return {**asdict(self), "passed": self.passed}


def _metrics(y: np.ndarray, p: np.ndarray, decision: np.ndarray | None = None) -> dict:
    m = classification_metrics(y, p, decision)
    return {"accuracy": m["accuracy"], "auc": m["auc"], "brier": m["brier"], "probability_sd": float(np.std(p))}


def _span(panel: Panel, rows: np.ndarray) -> str:
    return f"{len(rows)} sessions {panel.dates[rows[0]].date()}..{panel.dates[rows[-1]].date()}"


def gate_rows(panel: Panel, candidate: Bundle, production: Bundle | None) -> tuple[np.ndarray, str, bool]:
    """The candidate's labelled test sessions, less those production trained or validated on.

    Returns (rows, basis, production_comparable)."""
    positions = np.arange(len(panel.dates))
    start, end = (pd.Timestamp(d) for d in candidate.meta.segments["test"])
    usable = np.isfinite(panel.label) & (positions >= candidate.window - 1)
    rows = positions[usable & (panel.dates >= start) & (panel.dates <= end)]
    if production is None:
        return rows, "the candidate's test window", False
    seen_from = pd.Timestamp(production.meta.segments["train"][0])
    seen_to = pd.Timestamp(production.meta.segments["valid"][1])
    unseen = rows[(panel.dates[rows] < seen_from) | (panel.dates[rows] > seen_to)]
    if len(unseen) >= MIN_SHARED_ROWS:
        return unseen, "the candidate's test window, less the sessions production trained or validated on", True
    return rows, ("the candidate's test window (production trained or validated on all but"
                  f" {len(unseen)} of them, so it is not compared)"), False


def judge(candidate: Bundle, panel: Panel, promotion: PromotionConfig, production: Bundle | None = None,
          min_accuracy: float | None = None, ranges=None) -> GateReport:
    """Score candidate, production and the baselines on the same rows and list what fails.
    `ranges` (`features.ranges.RangeData` of the stored data) lets the gate judge the candidate's
    range forecast on the same sessions; without it a range part is reported as not judged."""
    from sensex.models.baselines import SP500_RULE_FEATURE, fit_baselines, predict_baselines, sp500_rule_predictions

    if candidate.symbols != panel.symbols:
        return GateReport({"n": 0}, {}, {}, failures=["it was trained on another member list than the current universe"])
    if production is not None and production.symbols != panel.symbols:
        production = None
    rows, basis, comparable = gate_rows(panel, candidate, production)
    if len(rows) < 20:
        return GateReport({"n": int(len(rows)), "basis": basis}, {}, {}, failures=[
            f"only {len(rows)} labelled sessions of its test window {candidate.meta.segments['test']} are in the store: "
            "it cannot be judged on the current data"])
    y = panel.label[rows]
    span = _span(panel, rows)
    p, _ = predict_rows(candidate, panel, rows)
    report = GateReport(rows={"start": str(panel.dates[rows[0]].date()), "end": str(panel.dates[rows[-1]].date()),
                              "n": int(len(rows)), "basis": basis},
                        candidate=_metrics(y, p), baselines={})
    report.candidate["auc_interval"] = bootstrap_intervals(y, p).get("auc")
    train_rows = positions_in(panel, *(pd.Timestamp(d) for d in candidate.meta.segments["train"]))
    portable = candidate.meta.baselines
    if not portable:  # a bundle older than schema 3: refit its baselines on its own training window
        portable = fit_baselines(panel, train_rows)
    scored_baselines = predict_baselines(portable, panel, rows)
    if SP500_RULE_FEATURE in panel.market_feature_names:  # a pre-open panel: the rule it must beat
        last_ret = panel.market[:, panel.market_feature_names.index(SP500_RULE_FEATURE)]
        scored_baselines["sp500_rule"] = sp500_rule_predictions(last_ret, panel.label, train_rows, {"gate": rows})["gate"]
    report.baselines = {name: _metrics(y, *scored) for name, scored in scored_baselines.items()}
    if production is not None and comparable:
        report.production = _metrics(y, predict_rows(production, panel, rows)[0])
        report.beats_production = report.candidate["brier"] < report.production["brier"]

    c, failures = report.candidate, report.failures
    if c["probability_sd"] < promotion.min_probability_sd:
        failures.append(f"its P(UP) is collapsed: standard deviation {c['probability_sd']:.4f} on the {span}"
                        f" (at least {promotion.min_probability_sd} needed)")
    always_up = report.baselines["always_up"]["brier"]
    if promotion.brier_below_always_up and not c["brier"] < always_up:
        failures.append(f"its Brier score {c['brier']:.4f} is not below always-UP's {always_up:.4f} on the {span}")
    naive_name = max(NAIVE, key=lambda name: np.nan_to_num(report.baselines[name]["auc"], nan=0.5))
    naive_auc = float(np.nan_to_num(report.baselines[naive_name]["auc"], nan=0.5))
    interval = c["auc_interval"]
    if promotion.auc_above_naive and interval and interval[1] <= naive_auc:
        failures.append(f"its AUC {c['auc']:.3f} (90% interval {interval[0]:.3f}-{interval[1]:.3f}) lies at or below"
                        f" the best naive baseline's ({naive_name} {naive_auc:.3f}) on the {span}")
    if promotion.not_worse_than_baselines:
        _judge_against_learned(report, y, p, {k: v[0] for k, v in scored_baselines.items()}, span)
    min_accuracy = promotion.min_accuracy if min_accuracy is None else min_accuracy
    if c["accuracy"] < min_accuracy:
        failures.append(f"its accuracy {c['accuracy']:.3f} is below the minimum {min_accuracy:.3f} on the {span}")
    if not np.isnan(c["auc"]) and c["auc"] < promotion.min_auc:
        failures.append(f"its AUC {c['auc']:.3f} is below the minimum {promotion.min_auc:.3f} on the {span}")
    _judge_range(report, candidate, panel.dates[rows], promotion, ranges)
    return report


def positions_in(panel: Panel, start: pd.Timestamp, end: pd.Timestamp) -> np.ndarray:
    """Labelled rows of `panel` dated within [start, end]."""
    return np.flatnonzero((panel.dates >= start) & (panel.dates <= end) & np.isfinite(panel.label))


def _judge_against_learned(report: GateReport, y: np.ndarray, p: np.ndarray, baselines: dict[str, np.ndarray],
                           span: str) -> None:
    """Refuse a candidate that the best learned baseline beats beyond the paired interval; the
    comparison (difference and interval) is kept in the report either way."""
    learned = {name: report.baselines[name] for name in LEARNED if name in report.baselines}
    if not learned:
        return
    by_auc = max(learned, key=lambda name: np.nan_to_num(learned[name]["auc"], nan=0.0))
    by_brier = min(learned, key=lambda name: learned[name]["brier"])
    compared = report.candidate["against_best_baseline"] = {}
    for metric, name in (("auc", by_auc), ("brier", by_brier)):
        difference, low, high = paired_difference(y, p, baselines[name])[metric]
        compared[metric] = {"baseline": name, "difference": difference, "interval": [low, high]}
        worse = high < 0 if metric == "auc" else low > 0
        if worse:
            label = "AUC" if metric == "auc" else "Brier score"
            report.failures.append(
                f"its {label} {report.candidate[metric]:.4f} is worse than {name}'s {learned[name][metric]:.4f} on the"
                f" {span} beyond chance (90% interval of the difference {low:+.4f} to {high:+.4f})")


def _judge_range(report: GateReport, candidate: Bundle, dates: pd.DatetimeIndex, promotion: PromotionConfig,
                 ranges) -> None:
    """The range rule: the learned range model's QLIKE must be below EWMA's on the gate's sessions."""
    from sensex.models.range_portable import has_range

    if not has_range(candidate.meta):
        return
    if ranges is None:
        report.range = {"judged": False, "reason": "no range data was given to the gate"}
        return
    from sensex.models.range_fit import gate_qlike

    scored = report.range = {"judged": promotion.range_beats_ewma, **gate_qlike(candidate.meta.range, ranges, dates)}
    if not promotion.range_beats_ewma:
        return
    if scored["n"] < 20:
        report.failures.append(f"its range forecast cannot be judged: only {scored['n']} of the gate's sessions have"
                               " one (a range forecast needs 22 sessions of history and a known next session)")
        return
    if not scored["model"] < scored["ewma"]:
        report.failures.append(f"its range forecast's QLIKE {scored['model']:.4f} is not below EWMA's"
                               f" {scored['ewma']:.4f} on the {scored['n']} sessions {scored['start']}..{scored['end']}")


def metric_drift(reference: dict, current_metrics: dict, tolerance: float) -> dict:
    """Live metrics against a model's recorded test metrics (`test_accuracy`, ...): drift when
    accuracy or AUC fall, or Brier rises, by more than `tolerance`."""
    changes, drifted = {}, []
    for key, worse_if_lower in (("accuracy", True), ("auc", True), ("brier", False)):
        recorded = reference.get(f"test_{key}")
        current = current_metrics.get(key, current_metrics.get(f"test_{key}"))
        if recorded is None or current is None:
            continue
        delta = current - recorded
        changes[key] = {"reference": recorded, "current": current, "change": delta}
        if (worse_if_lower and delta < -tolerance) or (not worse_if_lower and delta > tolerance):
            drifted.append(key)
    return {
        "drift_detected": bool(drifted), "drifted_metrics": drifted, "tolerance": tolerance, "metrics": changes,
        "recommendation": "retrain and re-run `sensex registry setup`" if drifted else "no action",
    }


def threshold_failures(metrics: dict, min_accuracy: float, min_auc: float) -> list[str]:
    """Why a version's recorded test metrics fail the accuracy and AUC thresholds ([] when they pass)."""
    accuracy, auc = metrics.get("test_accuracy"), metrics.get("test_auc")
    if accuracy is None or auc is None:
        return ["it has no test metrics"]
    reasons = []
    if accuracy < min_accuracy:
        reasons.append(f"test accuracy {accuracy:.3f} < {min_accuracy:.3f}")
    if auc < min_auc:
        reasons.append(f"test AUC {auc:.3f} < {min_auc:.3f}")
    return reasons
