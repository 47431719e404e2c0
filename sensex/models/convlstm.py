"""ConvLSTM over the member axis: convolution inside the LSTM gates, features as channels.

Members are ordered by sector, so the kernel sees sector peers side by side. The final hidden
state is pooled over available members (the mask channel) and mapped to one logit for
P(index up next session).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
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
        """(B,) index logits and (B, S) member logits (None without the member head).

        The convolutions run as matrix products on channel-last tensors: a kernel-k convolution
        over members is one linear map of each member's k neighbours (`_neighbours`). The gates'
        input part is computed for all sessions at once, so the loop over sessions multiplies only
        the hidden state. Same parameters and same function as `nn.Conv1d` on the concatenation
        [input, hidden] (a test pins it); training is about a third faster than looping the
        convolutions, whose backward zeroed and summed a full-window gradient at every session."""
        assert x.ndim == 4, "expected (B, T, S, C)"
        batch, steps, stocks, channels = x.shape
        hidden, projection, kernel = self.config.hidden, self.config.projection, self.config.kernel
        mask = x[:, -1, :, -1]  # (B, S): availability on the last session
        inputs = torch.relu(F.linear(x, self.project.weight.squeeze(-1), self.project.bias))  # (B, T, S, P)
        weight = self.gates.weight  # (4H, P + H, k): input channels first, then hidden
        input_weight = weight[:, :projection].permute(0, 2, 1).reshape(4 * hidden, kernel * projection)
        hidden_weight = weight[:, projection:].permute(0, 2, 1).reshape(4 * hidden, kernel * hidden)
        input_gates = F.linear(_neighbours(inputs, kernel), input_weight, self.gates.bias)  # (B, T, S, 4H)
        h = x.new_zeros(batch, stocks, hidden)  # (B, S, H)
        c = x.new_zeros(batch, stocks, hidden)
        for step_gates in input_gates.unbind(1):
            gates = step_gates + F.linear(_neighbours(h, kernel), hidden_weight)  # (B, S, 4H)
            i, f, g, o = gates.chunk(4, dim=-1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
        weights = mask.unsqueeze(-1)  # (B, S, 1)
        mean = (h * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)  # (B, H)
        peak = (h - 1e4 * (1.0 - weights)).amax(dim=1)  # (B, H): max over available members
        pooled = torch.cat([mean, peak], dim=1)  # (B, 2H)
        index_logit = self.head(self.dropout(pooled)).squeeze(1)  # (B,) logits
        stock_logits = None
        if self.stock_head is not None:  # (B, S)
            stock_logits = F.linear(self.dropout(h), self.stock_head.weight.squeeze(-1), self.stock_head.bias).squeeze(-1)
        return index_logit, stock_logits


def _neighbours(x: torch.Tensor, kernel: int) -> torch.Tensor:
    """(..., S, C) -> (..., S, kernel * C): each member's channels beside those of its neighbours
    (offsets -kernel//2 .. +kernel//2, zeros past either end), in the order `nn.Conv1d` weighs them."""
    pad = kernel // 2
    padded = F.pad(x, (0, 0, pad, pad))
    stocks = x.shape[-2]
    return torch.cat([padded[..., offset : offset + stocks, :] for offset in range(kernel)], dim=-1)


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
