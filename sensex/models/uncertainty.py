"""How sure a forecast is, from evidence: an interval on P(UP), a "no call" flag, a skill verdict,
and risk from the index's realized volatility. Numpy only: serving uses it as training does.

The interval is split-conformal, calibrated on the validation window. The nonconformity score of
a validation session is 1 - (the probability the model gave to what happened), and q is its
ceil((n + 1)(1 - alpha))-th smallest value. The conformal prediction set of a forecast holds UP
when 1 - p <= q and DOWN when p <= q; we write it as the interval [p - h, p + h] on P(UP) with
h = q - 0.5, which straddles 0.5 exactly when the set holds both outcomes: a "no call". An
ensemble also widens the interval to the spread of its ConvLSTM seeds. Coverage on the test
window is the share of sessions whose outcome the set holds (every no-call session, and each
call that came true); split-conformal promises at least 1 - alpha when validation and test
sessions are exchangeable, which markets only roughly are, so the coverage is measured, not assumed.

Skill is "shown" only when the test AUC's 90% interval lies above 0.5 and P(UP) actually varies
(standard deviation at least 0.01 on the test window); otherwise "none", and the confidence word
is "no skill shown", whatever P(UP) says.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

ALPHA = 0.1  # a 90% conformal set
MIN_PROBABILITY_SD = 0.01  # below this P(UP) is a constant: the model has collapsed
NO_SKILL = "no skill shown"
RISK_NOTE = ("risk is the SENSEX's realized volatility over the last 20 sessions (annualized) against the"
             " model's training window: Low below its 33rd percentile, High above its 67th")


def conformal_half_width(probabilities: np.ndarray, labels: np.ndarray, alpha: float = ALPHA) -> float:
    """h such that [p - h, p + h] straddles 0.5 exactly when the split-conformal set holds both outcomes."""
    p, y = np.asarray(probabilities, dtype=np.float64), np.asarray(labels, dtype=np.float64)
    n = len(y)
    if n == 0:
        return 0.5
    scores = np.sort(np.where(y == 1, 1.0 - p, p))
    rank = int(np.ceil((n + 1) * (1 - alpha)))
    if rank > n:  # too few sessions for this level: every forecast is a no call
        return 0.5
    return float(max(scores[rank - 1] - 0.5, 0.0))


def intervals(p: np.ndarray, half_width: float, spread: np.ndarray | None = None) -> np.ndarray:
    """(N, 2) [low, high] on P(UP): p +- half_width, widened to the seeds' spread (N, 2) when given."""
    p = np.asarray(p, dtype=np.float64)
    low, high = p - half_width, p + half_width
    if spread is not None:
        low, high = np.minimum(low, spread[:, 0]), np.maximum(high, spread[:, 1])
    return np.column_stack([np.clip(low, 0.0, 1.0), np.clip(high, 0.0, 1.0)])


def no_call(bounds: np.ndarray) -> np.ndarray:
    """True where the interval reaches 0.5 from both sides: the model cannot call the direction."""
    bounds = np.atleast_2d(bounds)
    return (bounds[:, 0] <= 0.5) & (bounds[:, 1] >= 0.5)


def coverage(bounds: np.ndarray, labels: np.ndarray) -> float:
    """Share of sessions whose outcome the interval allows: every no call, and each call that came true."""
    bounds, y = np.atleast_2d(bounds), np.asarray(labels)
    if len(y) == 0:
        return float("nan")
    held = no_call(bounds) | ((bounds[:, 0] > 0.5) & (y == 1)) | ((bounds[:, 1] < 0.5) & (y == 0))
    return float(held.mean())


def cross_fitted(fit: Callable[[np.ndarray, np.ndarray], object], apply: Callable[[object, np.ndarray], np.ndarray],
                 x: np.ndarray, y: np.ndarray, folds: int = 5) -> np.ndarray:
    """Predictions for each of `folds` consecutive blocks of rows from a fit on the other blocks:
    validation-window scores that the fit never saw, for conformal scores and for choosing a rule."""
    out = np.empty(len(y), dtype=np.float64)
    for block in np.array_split(np.arange(len(y)), folds):
        rest = np.setdiff1d(np.arange(len(y)), block)
        out[block] = apply(fit(x[rest], y[rest]), x[block])
    return out


@dataclass(frozen=True)
class SkillVerdict:
    skill: str  # "shown" or "none"
    reason: str
    test_auc: float | None
    test_auc_interval: list[float] | None
    test_probability_sd: float | None

    def to_dict(self) -> dict:
        return asdict(self)


def judge_skill(auc: float | None, auc_interval: list[float] | None, probability_sd: float | None) -> SkillVerdict:
    """Skill is shown only by a test AUC interval above 0.5 and a P(UP) that varies."""
    if auc is None or probability_sd is None:
        return SkillVerdict("none", "no test evidence recorded for this model", auc, auc_interval, probability_sd)
    if probability_sd < MIN_PROBABILITY_SD:
        return SkillVerdict("none", f"P(UP) barely varies on the test window (sd {probability_sd:.4f} < {MIN_PROBABILITY_SD})",
                            auc, auc_interval, probability_sd)
    low = auc_interval[0] if auc_interval else None
    if low is None or not np.isfinite(low) or low <= 0.5:
        span = f" (90% interval {auc_interval[0]:.3f}-{auc_interval[1]:.3f})" if auc_interval else ""
        return SkillVerdict("none", f"test AUC {auc:.3f}{span} is not distinguishable from a coin's 0.5",
                            auc, auc_interval, probability_sd)
    return SkillVerdict("shown", f"test AUC {auc:.3f} (90% interval {auc_interval[0]:.3f}-{auc_interval[1]:.3f})"
                        f" lies above 0.5 and P(UP) varies (sd {probability_sd:.3f})", auc, auc_interval, probability_sd)


MOSTLY_NO_CALL = 0.9  # a model that abstains this often on its test window says almost nothing
LEARNED_BASELINES = ("logreg", "gbm", "sp500_rule")


def card_skill(uncertainty: dict, test_metrics: dict, test_baselines: dict) -> dict:
    """Whether a model card may claim skill, with every reason it may not: the test AUC not
    distinguishable from a coin (the recorded verdict), no call on most test sessions, or a test
    AUC not above the best learned baseline's on the same rows. {"skill": "shown" | "none" |
    "unknown", "reasons": [...]}; "unknown" for a bundle that recorded no uncertainty."""
    if not uncertainty:
        return {"skill": "unknown", "reasons": ["this model recorded no test evidence of its skill"]}
    reasons = []
    verdict = uncertainty.get("skill") or {}
    if verdict.get("skill") != "shown":
        reasons.append(verdict.get("reason") or "no test evidence recorded for this model")
    share = uncertainty.get("test_no_call_share")
    if share is not None and share >= MOSTLY_NO_CALL:
        reasons.append(f"it made no call on {share:.0%} of its test sessions")
    auc = test_metrics.get("auc")
    learned = {name: (test_baselines.get(name) or {}).get("auc") for name in LEARNED_BASELINES}
    learned = {name: value for name, value in learned.items() if value is not None and np.isfinite(value)}
    if auc is not None and learned:
        best = max(learned, key=learned.get)
        if not auc > learned[best]:
            reasons.append(f"its test AUC {auc:.3f} is not above {best}'s {learned[best]:.3f} on the same sessions")
    return {"skill": "none" if reasons else "shown", "reasons": reasons}


def confidence_word(skill: str, bounds: np.ndarray, probability: float) -> str:
    """The word follows the evidence: no skill -> "no skill shown"; a no call -> Low; a call whose
    interval clears 0.5 -> Medium, High when P(UP) is also 15 points or more from 50%."""
    if skill != "shown":
        return NO_SKILL
    if bool(no_call(bounds)[0]):
        return "Low"
    return "High" if abs(probability - 0.5) >= 0.15 else "Medium"


@dataclass(frozen=True)
class Uncertainty:
    """What a bundle records about its own uncertainty (part of `BundleMeta`)."""

    method: str  # "split-conformal" or "split-conformal+seed-spread"
    alpha: float
    half_width: float  # h of the conformal interval
    fit_start: str | None  # the validation window the half-width was calibrated on
    fit_end: str | None
    test_coverage: float | None = None  # share of test sessions whose outcome the interval held
    test_no_call_share: float | None = None
    test_probability_sd: float | None = None
    skill: dict = field(default_factory=dict)  # SkillVerdict.to_dict()
    volatility_bands: list[float] = field(default_factory=list)  # [33rd, 67th] percentile of training realized vol
    # The same record for the baseline served, labelled, while no model passes the gate:
    # {"name": "logreg", "half_width", "test_coverage", "test_no_call_share", "test_probability_sd", "skill"}
    fallback: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


FALLBACK_BASELINE = "logreg"  # fixed in advance, not picked on the test window


def fallback_record(valid_p: np.ndarray, valid_y: np.ndarray, test_p: np.ndarray, test_y: np.ndarray,
                    test_auc: float, test_auc_interval: list[float] | None) -> dict:
    """The fallback baseline's own conformal half-width (its validation rows are out of sample:
    it was fit on the training window), test coverage and skill verdict."""
    half_width = conformal_half_width(valid_p, valid_y)
    bounds = intervals(test_p, half_width)
    probability_sd = float(np.std(test_p))
    return {"name": FALLBACK_BASELINE, "half_width": half_width, "test_coverage": coverage(bounds, test_y),
            "test_no_call_share": float(no_call(bounds).mean()), "test_probability_sd": probability_sd,
            "skill": judge_skill(test_auc, test_auc_interval, probability_sd).to_dict()}


def risk_word(volatility: float, bands: list[float]) -> str:
    """Low / Medium / High realized-volatility regime; "unknown" without history or bands."""
    if not bands or volatility is None or not np.isfinite(volatility):
        return "unknown"
    if volatility < bands[0]:
        return "Low"
    return "High" if volatility > bands[1] else "Medium"
