"""Honest evaluation of member (single-stock) and sector next-session forecasts, and the bar any
model must clear: three baselines scored on the same rows.

A member forecast on session t is a score per member; the truth is the member's next-session log
return (`ret_1` at t + 1, both sessions available). Reported:

- AUC of P(member up) pooled over all (session, member) rows, and per member;
- the daily cross-sectional rank IC (Spearman of score against next-session return across the
  members of one session), its mean, t-statistic and a moving-block bootstrap interval (blocks of
  20 sessions keep the autocorrelation of daily ICs);
- sectors derived from members: a sector is UP when its members' equal-weighted next-session
  return is above zero, scored by the mean of its members' scores (AUC pooled over sessions and
  sectors).

Baselines: short-term reversal (-ret_1: yesterday's loser is tomorrow's winner), momentum
(ret_20), and a pooled logistic regression on each member's own indicators, fit on the training
window only (its scaler too).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sensex.features.build import Panel

BLOCK = 20  # sessions per bootstrap block
MIN_MEMBERS_PER_DAY = 5  # a cross-sectional IC of fewer members says little


@dataclass(frozen=True)
class MemberTargets:
    next_return: np.ndarray  # (D, S) next-session log return, NaN where unknown
    usable: np.ndarray  # (D, S) bool: member available at t and t + 1


def member_targets(panel: Panel) -> MemberTargets:
    ret_1 = panel.stock[..., panel.stock_feature_names.index("ret_1")]  # (D, S)
    next_return = np.full_like(ret_1, np.nan)
    next_return[:-1] = ret_1[1:]
    usable = panel.available.copy()
    usable[:-1] &= panel.available[1:]
    usable[-1] = False
    usable &= np.isfinite(next_return)
    return MemberTargets(next_return, usable)


def baseline_scores(panel: Panel, train_rows: np.ndarray, targets: MemberTargets) -> dict[str, np.ndarray]:
    """(D, S) scores of each baseline; the logistic regression is fit on `train_rows` (sessions) only."""
    names = panel.stock_feature_names
    scores = {
        "reversal": -panel.stock[..., names.index("ret_1")],
        "momentum_20": panel.stock[..., names.index("ret_20")],
    }
    fit = np.zeros_like(targets.usable)
    fit[train_rows] = targets.usable[train_rows]
    fit &= np.isfinite(panel.stock).all(axis=2)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=500))
    model.fit(panel.stock[fit], (targets.next_return[fit] > 0).astype(int))
    finite = np.isfinite(panel.stock).all(axis=2)
    logreg = np.full(finite.shape, np.nan)
    logreg[finite] = model.predict_proba(panel.stock[finite])[:, 1]
    scores["logreg_members"] = logreg
    return scores


def _block_bootstrap_mean(values: np.ndarray, draws: int = 1000, seed: int = 0) -> list[float]:
    """90% moving-block bootstrap interval of the mean of a daily series."""
    n = len(values)
    if n < 2 * BLOCK:
        return [float("nan"), float("nan")]
    rng = np.random.default_rng(seed)
    blocks = int(np.ceil(n / BLOCK))
    starts = rng.integers(0, n - BLOCK + 1, size=(draws, blocks))
    index = (starts[..., None] + np.arange(BLOCK)).reshape(draws, -1)[:, :n]
    means = values[index].mean(axis=1)
    return [float(np.quantile(means, 0.05)), float(np.quantile(means, 0.95))]


def daily_rank_ic(scores: np.ndarray, targets: MemberTargets, rows: np.ndarray) -> np.ndarray:
    """(n,) Spearman rank IC per session in `rows` (sessions with too few members are skipped)."""
    out = []
    for t in rows:
        ok = targets.usable[t] & np.isfinite(scores[t])
        if ok.sum() < MIN_MEMBERS_PER_DAY:
            continue
        a = pd.Series(scores[t, ok]).rank().to_numpy()
        b = pd.Series(targets.next_return[t, ok]).rank().to_numpy()
        if a.std() == 0 or b.std() == 0:
            continue
        out.append(float(np.corrcoef(a, b)[0, 1]))
    return np.array(out)


def sector_logits(logits: np.ndarray, available: np.ndarray, sectors: list[str]) -> tuple[list[str], np.ndarray]:
    """Sector names and (N, G) mean logit of each sector's members available on that session (NaN: none)."""
    names = sorted(set(sectors))
    out = np.full((len(logits), len(names)), np.nan)
    for g, name in enumerate(names):
        columns = [j for j, s in enumerate(sectors) if s == name]
        weights = available[:, columns].astype(np.float64)
        count = weights.sum(axis=1)
        total = (np.nan_to_num(logits[:, columns]) * weights).sum(axis=1)
        out[:, g] = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return names, out


def sector_truth(targets: MemberTargets, rows: np.ndarray, sectors: list[str]) -> np.ndarray:
    """(N, G) 1/0: the sector's equal-weighted next-session return above zero; NaN without members."""
    names = sorted(set(sectors))
    out = np.full((len(rows), len(names)), np.nan)
    for g, name in enumerate(names):
        columns = [j for j, s in enumerate(sectors) if s == name]
        usable = targets.usable[rows][:, columns]
        returns = np.where(usable, targets.next_return[rows][:, columns], 0.0)
        count = usable.sum(axis=1)
        mean = returns.sum(axis=1) / np.maximum(count, 1)
        out[:, g] = np.where(count > 0, (mean > 0).astype(np.float64), np.nan)
    return out


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    return float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else float("nan")


def score_members(scores: np.ndarray, panel: Panel, targets: MemberTargets, rows: np.ndarray,
                  sectors: list[str]) -> dict:
    """Pooled and per-member AUC, rank IC summary and derived-sector AUC of one (D, S) score on `rows`."""
    mask = np.zeros_like(targets.usable)
    mask[rows] = targets.usable[rows]
    mask &= np.isfinite(scores)
    up = targets.next_return > 0
    per_member = {symbol: _auc(up[mask[:, j], j], scores[mask[:, j], j]) for j, symbol in enumerate(panel.symbols)
                  if mask[:, j].sum() >= 50}
    ic = daily_rank_ic(scores, targets, rows)
    sector_names = sorted(set(sectors))
    sector_y, sector_p = [], []
    for name in sector_names:
        columns = [j for j, s in enumerate(sectors) if s == name]
        members_ok = mask[:, columns]
        days = members_ok.any(axis=1)
        returns = np.where(members_ok, targets.next_return[:, columns], np.nan)[days]
        member_scores = np.where(members_ok, scores[:, columns], np.nan)[days]
        sector_y.append(np.nanmean(returns, axis=1) > 0)
        sector_p.append(np.nanmean(member_scores, axis=1))
    member_aucs = np.array(list(per_member.values()))
    return {
        "n_rows": int(mask.sum()),
        "auc_pooled": _auc(up[mask], scores[mask]),
        "auc_member_median": float(np.nanmedian(member_aucs)) if len(member_aucs) else float("nan"),
        "members_above_half": int((member_aucs > 0.5).sum()),
        "members_scored": int(len(member_aucs)),
        "ic_mean": float(ic.mean()) if len(ic) else float("nan"),
        "ic_t": float(ic.mean() / (ic.std(ddof=1) / np.sqrt(len(ic)))) if len(ic) > 2 else float("nan"),
        "ic_interval": _block_bootstrap_mean(ic),
        "ic_days": int(len(ic)),
        "sector_auc_pooled": _auc(np.concatenate(sector_y), np.concatenate(sector_p)) if sector_y else float("nan"),
        "per_member_auc": per_member,
    }


def evaluate_baselines(panel: Panel, sectors: list[str], train_end: str, test_start: str, test_end: str) -> dict:
    """Every baseline fit on sessions up to `train_end` and scored on [test_start, test_end]."""
    targets = member_targets(panel)
    positions = np.arange(len(panel.dates))
    # A row's label is the next session's return: rows strictly before train_end keep every
    # training label inside the training window.
    train_rows = positions[panel.dates < pd.Timestamp(train_end)]
    test_rows = positions[(panel.dates >= pd.Timestamp(test_start)) & (panel.dates <= pd.Timestamp(test_end))]
    scores = baseline_scores(panel, train_rows, targets)
    return {name: score_members(s, panel, targets, test_rows, sectors) for name, s in scores.items()}
