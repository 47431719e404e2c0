"""What a forecast says about itself, from the evidence its bundle recorded at training:
the interval on P(UP), the no-call flag, the skill verdict, the confidence word, the risk word
and the one-sentence note. Used for the production model and for the labelled baseline fallback.
"""

from __future__ import annotations

import numpy as np

from sensex.models.bundle import BundleMeta
from sensex.models.uncertainty import RISK_NOTE, card_skill, confidence_word, intervals, no_call, risk_word

BASELINE_NAMES = {"logreg": "logistic-regression baseline (ten lagged index returns and three volatility features)"}


def assess(meta: BundleMeta, probability: float, spread: np.ndarray | None, volatility: float | None,
           fallback: bool = False, range_view: dict | None = None) -> dict:
    """Forecast fields from `meta.uncertainty` (or its `fallback` record for the baseline).

    `skill` is the model card's verdict (`forecast_skill`), so the forecast and the card agree.
    A bundle older than schema 3 recorded no uncertainty: its interval is [0, 1] (a no call) and
    it shows no skill, so the app never dresses it up. `range_view` (`range_portable.expected_move`)
    makes `risk` the range forecast's percentile word; without it (an older bundle, the fallback)
    `risk` is the realized-volatility word, which is always `realized_risk`.
    """
    record = meta.uncertainty.get("fallback", {}) if fallback else meta.uncertainty
    half_width = float(record.get("half_width", 0.5))
    bounds = intervals(np.array([probability]), half_width, spread)
    verdict = forecast_skill(meta, fallback)
    skill = "shown" if verdict["skill"] == "shown" else "none"  # the forecast's contract: "unknown" is "none"
    word = confidence_word(skill, bounds, probability)
    low, high = (float(v) for v in bounds[0])
    is_no_call = bool(no_call(bounds)[0])
    span = f"{low:.0%}-{high:.0%}"
    if skill != "shown":
        note = f"No skill shown ({'; '.join(verdict['reasons'])}): treat this forecast as no better than a coin flip."
    else:
        reason = record["skill"]["reason"]  # shown: the recorded coin verdict said so, with its AUC interval
        if is_no_call:
            note = f"Skill shown out of sample ({reason}), but this forecast's interval {span} includes 50%: no call."
        else:
            note = f"Skill shown out of sample ({reason}); the interval {span} excludes 50%. A forecast, not advice."
    if fallback:
        note = (f"No trained model passed the promotion gate, so this is the {BASELINE_NAMES.get(record.get('name'), record.get('name'))}'s"
                f" forecast, fit on {meta.baselines.get('fit_start')}..{meta.baselines.get('fit_end')}. " + note)
    realized = risk_word(volatility, meta.uncertainty.get("volatility_bands", []))
    return {
        "interval": [round(low, 4), round(high, 4)],
        "no_call": is_no_call,
        "skill": skill,
        "skill_reasons": verdict["reasons"],
        "confidence": word,
        "risk": range_view["risk"] if range_view else realized,
        "realized_risk": realized,
        "realized_volatility": None if volatility is None or not np.isfinite(volatility) else round(float(volatility), 4),
        "note": note,
        "risk_basis": range_view["risk_basis"] if range_view else RISK_NOTE,
        "risk_percentile": range_view["risk_percentile"] if range_view else None,
        "expected_move": range_view["expected_move"] if range_view else None,
    }


def forecast_skill(meta: BundleMeta, fallback: bool = False) -> dict:
    """The model card's verdict (`card_skill`) on the model that forecasts, so a forecast never
    claims skill its card denies: the production model against the learned baselines, or the
    fallback baseline on its own record against the other learned baselines."""
    if not fallback:
        return card_skill(meta.uncertainty, meta.test_metrics, meta.test_baselines)
    record = meta.uncertainty.get("fallback", {})
    name = record.get("name")
    others = {key: value for key, value in meta.test_baselines.items() if key != name}
    return card_skill(record, meta.test_baselines.get(name) or {}, others)
