"""Member (single-stock) and sector forecasts of a trained model (training side: torch allowed).

Two candidates for each member's next-session P(UP), both fit on the training window only:

- "network": the ConvLSTM's member head (`ConvLSTM.stock_head`), trained jointly with the index
  head (`model.member_loss_weight`);
- "logreg": a pooled logistic regression on each member's own last-session indicators, as the
  network sees them (scaled with the model's scaler, so it needs no scaler of its own). Being
  linear, it is exported into the same ONNX graph as the network.

The one with the higher pooled validation AUC is served (ties go to the simpler "logreg"); its
logits are Platt-calibrated on the validation window. Sectors are derived from members: a
sector's logit is the mean of its available members' logits, calibrated on the validation window
against "the sector's equal-weighted next-session return is above zero". Whatever is chosen, the
graph gains one output, "stock_logits" (B, S), so the index and every member come from one call.

The test window is scored by `sensex.models.members.score_members` beside its baselines
(reversal, momentum, pooled logistic regression on raw indicators) on the same rows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from torch import nn

from sensex.features.build import Panel
from sensex.features.windows import make_windows
from sensex.models.calibrate import IDENTITY, Calibration, apply_calibration, fit_platt
from sensex.models.fitting import ScoredModel
from sensex.models.member_ranges import fit_member_ranges
from sensex.models.members import (
    MemberTargets,
    baseline_scores,
    member_targets,
    score_members,
    sector_logits,
    sector_truth,
)

if TYPE_CHECKING:  # the trainer's types, for annotations only
    from sensex.models.config import Config
    from sensex.models.segments import Segments

log = logging.getLogger(__name__)
STOCK_OUTPUT = "stock_logits"
SELECTION_METRIC = "auc_pooled"  # pooled validation AUC of P(member up)
SUMMARY_KEYS = ("n_rows", "auc_pooled", "auc_member_median", "members_above_half", "members_scored", "ic_mean",
                "ic_t", "ic_interval", "ic_days", "sector_auc_pooled")


class WithStockLogits(nn.Module):
    """The exported graph: the index network's outputs plus "stock_logits" (B, S).

    `source` "network": the member head of `stock_network` (the network itself for one ConvLSTM,
    so it runs once; an ensemble's first seed). "logreg": a linear map of each member's
    last-session indicators (the first `n_stock_features` channels of the window)."""

    def __init__(self, network: nn.Module, source: str, stock_network: nn.Module | None = None,
                 coef: np.ndarray | None = None, intercept: float = 0.0, n_stock_features: int = 0):
        super().__init__()
        self.network, self.source, self.stock_network = network, source, stock_network
        self.n_stock_features = n_stock_features
        self.linear = None
        if source == "logreg":
            self.linear = nn.Linear(n_stock_features, 1)
            with torch.no_grad():
                self.linear.weight.copy_(torch.as_tensor(np.asarray(coef, dtype=np.float32)[None, :]))
                self.linear.bias.fill_(float(intercept))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if self.source == "network" and self.stock_network is self.network:
            logit, stocks = self.network.forward_all(x)
            return logit, stocks
        out = self.network(x)
        outputs = out if isinstance(out, tuple) else (out,)
        if self.source == "network":
            stocks = self.stock_network.forward_all(x)[1]  # (B, S)
        else:
            stocks = self.linear(x[:, -1, :, : self.n_stock_features]).squeeze(-1)  # (B, S)
        return (*outputs, stocks)


def stock_up(targets: MemberTargets) -> np.ndarray:
    """(D, S) 1.0 when the member's next-session return is above zero, 0.0 otherwise (see `usable`)."""
    return (np.nan_to_num(targets.next_return) > 0).astype(np.float32)


def network_stock_logits(network: nn.Module, tensor: np.ndarray, rows: np.ndarray, window: int,
                         batch: int = 256) -> np.ndarray:
    """(N, S) member-head logits of a ConvLSTM for windows ending at `rows`."""
    network.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(rows), batch):
            x = torch.from_numpy(make_windows(tensor, rows[start : start + batch], window))
            out.append(network.forward_all(x)[1].numpy())
    return np.concatenate(out).astype(np.float64)


def fit_linear(tensor: np.ndarray, n_stock_features: int, targets: MemberTargets, train_rows: np.ndarray,
               ) -> tuple[np.ndarray, float]:
    """Pooled logistic regression of member up/down on the member's scaled last-session indicators,
    fit on the training rows only (the label of row t is the return into t + 1)."""
    x = tensor[train_rows][:, :, :n_stock_features]  # (N, S, F)
    usable = targets.usable[train_rows]
    y = (targets.next_return[train_rows][usable] > 0).astype(int)
    model = LogisticRegression(C=0.1, max_iter=500)
    model.fit(x[usable].astype(np.float64), y)
    return model.coef_[0].astype(np.float64), float(model.intercept_[0])


def linear_logits(tensor: np.ndarray, rows: np.ndarray, coef: np.ndarray, intercept: float) -> np.ndarray:
    return tensor[rows][:, :, : len(coef)].astype(np.float64) @ coef + intercept  # (N, S)


def _full(panel: Panel, rows: np.ndarray, values: np.ndarray) -> np.ndarray:
    scores = np.full(panel.available.shape, np.nan)
    scores[rows] = values
    return scores


def _summary(scored: dict) -> dict:
    return {k: scored[k] for k in SUMMARY_KEYS}


@dataclass
class MemberFit:
    source: str
    logits: dict[str, np.ndarray]  # segment -> (N, S) raw logits of the chosen source
    calibration: Calibration
    sector_calibration: Calibration
    selection: dict  # candidate -> validation summary, and the choice
    coef: np.ndarray | None = None
    intercept: float = 0.0

    def probabilities(self, segment: str) -> np.ndarray:
        return apply_calibration(self.calibration, self.logits[segment])


def fit_members(panel: Panel, rows: dict[str, np.ndarray], train_rows: np.ndarray, tensor: np.ndarray,
                sectors: list[str], network_logits: Callable[[np.ndarray], np.ndarray] | None) -> MemberFit:
    """Both candidates on the training rows, chosen and calibrated on the validation rows."""
    targets = member_targets(panel)
    n_features = len(panel.stock_feature_names)
    coef, intercept = fit_linear(tensor, n_features, targets, train_rows)
    candidates = {"logreg": {k: linear_logits(tensor, r, coef, intercept) for k, r in rows.items()}}
    if network_logits is not None:
        candidates["network"] = {k: network_logits(r) for k, r in rows.items()}
    valid = rows["valid"]
    selection: dict = {name: _summary(score_members(_full(panel, valid, logits["valid"]), panel, targets, valid, sectors))
                       for name, logits in candidates.items()}
    source = max(candidates, key=lambda name: (np.nan_to_num(selection[name][SELECTION_METRIC]), name == "logreg"))
    selection["chosen"], selection["criterion"] = source, f"valid_{SELECTION_METRIC}"
    if "network" in selection:
        selection["margin"] = float(selection["network"][SELECTION_METRIC] - selection["logreg"][SELECTION_METRIC])
    log.info("member forecasts: %s (validation AUC %s)", source,
             {k: round(v[SELECTION_METRIC], 4) for k, v in selection.items() if isinstance(v, dict)})
    logits = candidates[source]
    bounds = [str(panel.dates[valid[0]].date()), str(panel.dates[valid[-1]].date())]
    usable = targets.usable[valid]
    calibration = fit_platt(logits["valid"][usable], targets.next_return[valid][usable] > 0, *bounds) \
        if usable.any() else IDENTITY
    _, sector_x = sector_logits(logits["valid"], panel.available[valid], sectors)
    sector_y = sector_truth(targets, valid, sectors)
    known = np.isfinite(sector_x) & np.isfinite(sector_y)
    sector_calibration = fit_platt(sector_x[known], sector_y[known], *bounds) if known.any() else IDENTITY
    return MemberFit(source, logits, calibration, sector_calibration, selection,
                     coef if source == "logreg" else None, intercept)


def evaluate_members(panel: Panel, fit: MemberFit, rows: dict[str, np.ndarray], train_rows: np.ndarray,
                     sectors: list[str]) -> dict:
    """The test window: the served member probabilities beside the member baselines on the same
    rows, plus each member's out-of-sample record (AUC, hit rate, rows) for the dashboard."""
    targets = member_targets(panel)
    test = rows["test"]
    probability = fit.probabilities("test")
    model = score_members(_full(panel, test, probability), panel, targets, test, sectors)
    baselines = {name: _summary(score_members(scores, panel, targets, test, sectors))
                 for name, scores in baseline_scores(panel, train_rows, targets).items()}
    usable = targets.usable[test]
    up = targets.next_return[test] > 0
    record = {}
    for j, symbol in enumerate(panel.symbols):
        ok = usable[:, j]
        record[symbol] = {"n": int(ok.sum()),
                          "accuracy": float(((probability[ok, j] >= 0.5) == up[ok, j]).mean()) if ok.any() else None,
                          "auc": model["per_member_auc"].get(symbol)}
    y, p = up[usable].astype(np.float64), probability[usable]
    names, sector_x = sector_logits(fit.logits["test"], panel.available[test], sectors)
    sector_y = sector_truth(targets, test, sectors)
    known = np.isfinite(sector_x) & np.isfinite(sector_y)
    sector_p = apply_calibration(fit.sector_calibration, sector_x[known])
    return {
        "model": {**_summary(model), "brier": float(np.mean((p - y) ** 2)) if len(y) else None,
                  "accuracy": float(np.mean((p >= 0.5) == y)) if len(y) else None,
                  "sector_brier": float(np.mean((sector_p - sector_y[known]) ** 2)) if known.any() else None},
        "baselines": baselines,
        "record": record,
        "sectors": names,
    }


def member_part(panel: Panel, segments: Segments, scored: ScoredModel, config: Config, evaluation: dict,
                   sectors: list[str] | None) -> tuple[nn.Module, dict]:
    """The network to export (with the "stock_logits" output when member forecasts are on) and
    the bundle's `members` record; adds the member evaluation to `evaluation["members"]`."""
    if not config.model.member_outputs:
        return scored.network, {}
    first = scored.first
    sectors = list(sectors) if sectors else ["Unknown"] * len(panel.symbols)
    stock_network = first.network if first.net_config.member_outputs else None
    network_logits = None
    if stock_network is not None:
        def network_logits(rows: np.ndarray) -> np.ndarray:
            return network_stock_logits(stock_network, first.tensor, rows, first.net_config.window)
    rows = {"valid": segments.valid, "test": segments.test}
    fit = fit_members(panel, rows, segments.train, first.tensor, sectors, network_logits)
    evaluation["members"] = evaluate_members(panel, fit, rows, segments.train, sectors) | {
        "source": fit.source, "selection": fit.selection}
    exported = WithStockLogits(scored.network, fit.source, stock_network, fit.coef, fit.intercept,
                               len(panel.stock_feature_names))
    record = {
        "output": STOCK_OUTPUT,
        "source": fit.source,
        "sectors": sectors,
        "calibration": fit.calibration.to_dict(),
        "sector_calibration": fit.sector_calibration.to_dict(),
        "selection": fit.selection,
        "test": evaluation["members"]["model"],
        "test_baselines": evaluation["members"]["baselines"],
        "record": evaluation["members"]["record"],
    }
    if fit.coef is not None:
        record["linear"] = {"coef": fit.coef.tolist(), "intercept": fit.intercept}
    if config.model.range_forecast:  # how far each member may move, beside how likely it is to rise
        member_range = fit_member_ranges(panel, segments.train, segments.valid, segments.test)
        if member_range:
            record["range"] = member_range
            evaluation["members"]["range"] = member_range.get("test")
    return exported, record
