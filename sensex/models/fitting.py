"""Fitting one network: AdamW on BCE with early stopping on the validation loss, and the
fitted network with what it needs to score other rows (its scaler, its calibration)."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from sensex.features.windows import Scaler, make_windows
from sensex.models.bundle import NetworkConfig
from sensex.models.calibrate import Calibration, apply_calibration
from sensex.models.config import Config
from sensex.models.segments import Segments

log = logging.getLogger(__name__)
# progress(description, done, total): called as long work advances (total None: a stage with no count).
Progress = Callable[[str, int | None, int | None], None]


def _batches(n: int, size: int, rng: np.random.Generator | None):
    order = rng.permutation(n) if rng is not None else np.arange(n)
    for start in range(0, n, size):
        yield order[start : start + size]


def network_logits(network: nn.Module, tensor: np.ndarray, ends: np.ndarray, window: int, batch: int = 256) -> np.ndarray:
    network.eval()
    out = []
    with torch.no_grad():
        for idx in _batches(len(ends), batch, None):
            x = torch.from_numpy(make_windows(tensor, ends[idx], window))
            out.append(network(x).numpy())
    return np.concatenate(out).astype(np.float64)


def fit_network(
    network: nn.Module, tensor: np.ndarray, label: np.ndarray, segments: Segments, config: Config,
    progress: Progress | None = None, stock_targets: tuple[np.ndarray, np.ndarray] | None = None,
    on_epoch: Callable[[dict], None] | None = None,
) -> tuple[nn.Module, list[dict]]:
    """Adam on BCE with early stopping on validation loss; returns the best network and history.
    `progress` hears ("Training epoch", n, N) after each epoch. With `stock_targets` ((D, S) member
    up/down, (D, S) usable) the member head learns too, its masked BCE weighted by
    `model.member_loss_weight`; early stopping still watches the index's validation loss alone.
    `on_epoch` hears each epoch's history row ({"epoch", "train_loss", "valid_loss"})."""
    cfg, window = config.train, config.features.window
    rng = np.random.default_rng(cfg.seed)
    optimizer = torch.optim.AdamW(network.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    loss_fn = nn.BCEWithLogitsLoss()
    valid_y = label[segments.valid]
    best_loss, best_state, stale, history = float("inf"), None, 0, []
    for epoch in range(cfg.epochs):
        network.train()
        total, count = 0.0, 0
        for idx in _batches(len(segments.train), cfg.batch_size, rng):
            ends = segments.train[idx]
            x = torch.from_numpy(make_windows(tensor, ends, window))  # (B, T, S, C)
            y = torch.from_numpy(label[ends].astype(np.float32))
            optimizer.zero_grad()
            if stock_targets is None:
                loss = loss_fn(network(x), y)
            else:
                index_logit, stock_logits = network.forward_all(x)  # (B,), (B, S)
                up, usable = (torch.from_numpy(a[ends]) for a in stock_targets)
                member_loss = nn.functional.binary_cross_entropy_with_logits(stock_logits, up, reduction="none")
                member_loss = (member_loss * usable).sum() / usable.sum().clamp(min=1.0)
                loss = loss_fn(index_logit, y) + config.model.member_loss_weight * member_loss
            loss.backward()
            nn.utils.clip_grad_norm_(network.parameters(), 1.0)
            optimizer.step()
            total += loss.item() * len(idx)
            count += len(idx)
        valid_logits = network_logits(network, tensor, segments.valid, window)
        valid_loss = float(
            loss_fn(torch.from_numpy(valid_logits), torch.from_numpy(valid_y.astype(np.float64)))
        )
        history.append({"epoch": epoch, "train_loss": total / count, "valid_loss": valid_loss})
        log.info("epoch %d train_loss %.4f valid_loss %.4f", epoch, total / count, valid_loss)
        if on_epoch is not None:
            on_epoch(history[-1])
        if valid_loss < best_loss - 1e-5:
            best_loss, best_state, stale = valid_loss, copy.deepcopy(network.state_dict()), 0
        else:
            stale += 1
        if progress is not None:
            stopping = stale >= cfg.patience and epoch + 1 < cfg.epochs
            progress(f"Stopped early after epoch {epoch + 1}/{cfg.epochs}" if stopping else "Training epoch",
                     epoch + 1, epoch + 1 if stopping else cfg.epochs)
        if stale >= cfg.patience:
            break
    if best_state is not None:
        network.load_state_dict(best_state)
    return network, history


@dataclass
class FittedNetwork:
    """One network fit on one set of segments, with everything needed to score other rows."""

    kind: str
    network: nn.Module
    net_config: NetworkConfig
    scaler: Scaler
    tensor: np.ndarray  # (D, S, C) the whole panel scaled with this fit's scaler
    calibration: Calibration
    history: list[dict]
    seconds: float

    def logits(self, rows: np.ndarray) -> np.ndarray:
        return network_logits(self.network, self.tensor, rows, self.net_config.window)

    def probabilities(self, rows: np.ndarray) -> np.ndarray:
        """Calibrated P(UP) for windows ending at `rows`."""
        return apply_calibration(self.calibration, self.logits(rows))


@dataclass
class ScoredModel:
    """A trained model's probabilities per segment, whatever its kind."""

    network: nn.Module  # what is exported: one network or the SeedStack
    first: FittedNetwork  # the (first) network: scaler, tensor, calibration, config
    probability: dict[str, np.ndarray]
    spread: dict[str, np.ndarray | None]
    valid_crossed: np.ndarray  # validation P(UP) from fits that did not see the row (conformal scores)
    history: list[dict]
    fit_seconds: float
    ensemble: dict
    seed_epochs: list[int] | None = None
    seed_reports: dict | None = None
    seed_probability: dict | None = None  # segment -> {"seed_7": P(UP), ...}: each seed calibrated alone
    seed_seconds: list[float] | None = None
