"""ConvLSTM over the member axis: convolution inside the LSTM gates, features as channels.

Members are ordered by sector, so the kernel sees sector peers side by side. The final hidden
state is pooled over available members (the mask channel) and mapped to one logit for
P(index up next session).
"""

from __future__ import annotations

import torch
from torch import nn

from sensex.models.bundle import NetworkConfig


class ConvLSTM(nn.Module):
    def __init__(self, config: NetworkConfig):
        super().__init__()
        self.config = config
        c = config
        self.project = nn.Conv1d(c.n_channels, c.projection, kernel_size=1)
        self.gates = nn.Conv1d(c.projection + c.hidden, 4 * c.hidden, c.kernel, padding=c.kernel // 2)
        self.dropout = nn.Dropout(c.dropout)
        self.head = nn.Linear(2 * c.hidden, 1)
        # Each member's own next-session direction from its final hidden state (one head shared by
        # every member, so 30 or 50 members cost the same few weights).
        self.stock_head = nn.Conv1d(c.hidden, 1, kernel_size=1) if c.member_outputs else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_all(x)[0]

    def forward_all(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(B,) index logits and (B, S) member logits (None without the member head)."""
        assert x.ndim == 4, "expected (B, T, S, C)"
        batch, steps, stocks, channels = x.shape
        hidden = self.config.hidden
        mask = x[:, -1, :, -1]  # (B, S): availability on the last session
        inputs = x.permute(0, 1, 3, 2).reshape(batch * steps, channels, stocks)  # (B*T, C, S)
        inputs = torch.relu(self.project(inputs)).reshape(batch, steps, -1, stocks)  # (B, T, P, S)
        h = x.new_zeros(batch, hidden, stocks)  # (B, H, S)
        c = x.new_zeros(batch, hidden, stocks)
        for t in range(steps):
            gates = self.gates(torch.cat([inputs[:, t], h], dim=1))  # (B, 4H, S)
            i, f, g, o = gates.chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
        weights = mask.unsqueeze(1)  # (B, 1, S)
        mean = (h * weights).sum(dim=2) / weights.sum(dim=2).clamp(min=1.0)  # (B, H)
        peak = (h - 1e4 * (1.0 - weights)).amax(dim=2)  # (B, H): max over available members
        pooled = torch.cat([mean, peak], dim=1)  # (B, 2H)
        index_logit = self.head(self.dropout(pooled)).squeeze(1)  # (B,) logits
        stock_logits = self.stock_head(self.dropout(h)).squeeze(1) if self.stock_head is not None else None  # (B, S)
        return index_logit, stock_logits


class PooledLSTM(nn.Module):
    """The plain-LSTM control: members averaged away, so no convolution over the member axis."""

    def __init__(self, config: NetworkConfig):
        super().__init__()
        self.config = config
        self.lstm = nn.LSTM(config.n_channels, config.hidden, batch_first=True)
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.ndim == 4, "expected (B, T, S, C)"
        mask = x[..., -1:]  # (B, T, S, 1)
        pooled = (x * mask).sum(dim=2) / mask.sum(dim=2).clamp(min=1.0)  # (B, T, C)
        out, _ = self.lstm(pooled)  # (B, T, H)
        return self.head(self.dropout(out[:, -1])).squeeze(1)  # (B,)


NETWORKS = {"convlstm": ConvLSTM, "lstm": PooledLSTM}


def build_network(kind: str, config: NetworkConfig) -> nn.Module:
    return NETWORKS[kind](config)
