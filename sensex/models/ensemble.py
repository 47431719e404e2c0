"""The ensemble's combiner: several ConvLSTM seeds (a deep ensemble) and the fitted baselines,
combined by a rule fit on the validation window only. Numpy only, so serving applies it as is.

Inputs per session, in this order (`INPUTS`): the mean of the seeds' raw logits, the logistic
regression's log-odds, the gradient-boosted trees' log-odds. Two rules compete:

- stacking: sigmoid(b + w . inputs) with w >= 0, a logistic regression with a small ridge
  penalty; the non-negative weights may drop a member but never turn one upside down (an
  unconstrained fit on a few hundred validation sessions would, by noise);
- voting: a weighted mean of the members' probabilities (the seeds' mean logit through its own
  Platt calibration), each weighted by how much it beats the validation base rate on log-loss,
  equal weights when none does.

The rule is chosen by cross-fitted log-loss on the validation window (five consecutive blocks,
each scored by a fit on the other four), then refit on the whole window. The test window is
never read. The cross-fitted validation probabilities also calibrate the conformal interval.
Last, the combined logit moves by `prior_offset`: the long-run share of UP days in place of the
validation year's (`sensex.models.calibrate.prior_shift`), as for a single network.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from sensex.models.calibrate import Calibration, apply_calibration, fit_platt, shift_probabilities, sigmoid
from sensex.models.uncertainty import cross_fitted

INPUTS = ("convlstm_seeds", "logreg", "gbm")
RIDGE = 1e-2  # penalty on the stacking weights: a few hundred rows, three inputs


@dataclass(frozen=True)
class Combiner:
    rule: str  # "stacking" or "voting"
    weights: list[float]  # one per input
    bias: float = 0.0  # stacking only
    seed_calibration: Calibration | None = None  # voting: Platt on the seeds' mean logit
    validation_log_loss: dict[str, float] = field(default_factory=dict)  # cross-fitted, per rule
    fit_start: str | None = None
    fit_end: str | None = None
    prior_offset: float = 0.0  # added to the combined logit (`calibrate.prior_shift`); none in older bundles

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict) -> Combiner:
        values = dict(raw)
        if values.get("seed_calibration"):
            values["seed_calibration"] = Calibration(**values["seed_calibration"])
        return cls(**values)

    def probabilities(self, inputs: np.ndarray) -> np.ndarray:
        """(N, 3) inputs (logits, in `INPUTS` order) -> (N,) P(UP)."""
        x = np.asarray(inputs, dtype=np.float64)
        w = np.asarray(self.weights)
        if self.rule == "stacking":
            return sigmoid(self.bias + x @ w + self.prior_offset)
        members = np.column_stack([apply_calibration(self.seed_calibration, x[:, 0]), sigmoid(x[:, 1:])])
        return shift_probabilities(members @ (w / w.sum()), self.prior_offset)


def _log_loss(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(p, 1e-9, 1 - 1e-9)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def fit_stacking(x: np.ndarray, y: np.ndarray) -> Combiner:
    from scipy.optimize import minimize

    y = np.asarray(y, dtype=np.float64)
    base = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))

    def loss(params: np.ndarray) -> tuple[float, np.ndarray]:
        z = params[0] + x @ params[1:]
        residual = sigmoid(z) - y
        nll = np.mean(np.logaddexp(0.0, z) - y * z) + RIDGE * np.sum(params[1:] ** 2)
        grad = np.concatenate([[residual.mean()], x.T @ residual / len(y) + 2 * RIDGE * params[1:]])
        return float(nll), grad

    start = np.concatenate([[np.log(base / (1 - base))], np.zeros(x.shape[1])])
    fit = minimize(loss, start, jac=True, method="L-BFGS-B", bounds=[(None, None)] + [(0.0, None)] * x.shape[1])
    return Combiner("stacking", [float(v) for v in fit.x[1:]], float(fit.x[0]))


def fit_voting(x: np.ndarray, y: np.ndarray) -> Combiner:
    y = np.asarray(y, dtype=np.float64)
    calibration = fit_platt(x[:, 0], y)
    members = np.column_stack([apply_calibration(calibration, x[:, 0]), sigmoid(x[:, 1:])])
    base = _log_loss(y, np.full(len(y), y.mean()))
    skill = np.array([max(base - _log_loss(y, members[:, k]), 0.0) for k in range(members.shape[1])])
    weights = skill / skill.sum() if skill.sum() > 0 else np.full(members.shape[1], 1.0 / members.shape[1])
    return Combiner("voting", [float(v) for v in weights], 0.0, calibration)


RULES = {"stacking": fit_stacking, "voting": fit_voting}


def fit_combiner(inputs: np.ndarray, labels: np.ndarray, fit_start: str | None = None,
                 fit_end: str | None = None, prior_offset: float = 0.0) -> tuple[Combiner, np.ndarray]:
    """Choose and fit the rule on validation rows; returns it and its cross-fitted validation P(UP),
    both moved by `prior_offset` (the rule is chosen without it: it moves every rule alike)."""
    x, y = np.asarray(inputs, dtype=np.float64), np.asarray(labels, dtype=np.float64)
    crossed = {name: cross_fitted(fit, lambda c, rows: c.probabilities(rows), x, y) for name, fit in RULES.items()}
    losses = {name: _log_loss(y, p) for name, p in crossed.items()}
    rule = min(losses, key=losses.get)
    fitted = RULES[rule](x, y)
    combiner = Combiner(fitted.rule, fitted.weights, fitted.bias, fitted.seed_calibration,
                        {k: round(v, 6) for k, v in losses.items()}, fit_start, fit_end, float(prior_offset))
    return combiner, shift_probabilities(crossed[rule], prior_offset)


def seed_spread(combiner: Combiner, seed_logits: np.ndarray, inputs: np.ndarray) -> np.ndarray:
    """(N, 2) lowest and highest P(UP) when the seeds' mean logit is replaced by each seed's own:
    the deep ensemble's disagreement, on the scale of the final probability."""
    per_seed = []
    for k in range(seed_logits.shape[1]):
        x = np.array(inputs, dtype=np.float64, copy=True)
        x[:, 0] = seed_logits[:, k]
        per_seed.append(combiner.probabilities(x))
    stacked = np.column_stack(per_seed)
    return np.column_stack([stacked.min(axis=1), stacked.max(axis=1)])
