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

        Two forms of one function (a test pins them together): PyTorch runs the matrix form,
        whose training is about 1.3x faster; the ONNX export records the convolution form, which
        ONNX Runtime runs about 1.4x faster than the matrix form's graph."""
        assert x.ndim == 4, "expected (B, T, S, C)"
        if torch.onnx.is_in_onnx_export():
            return self.convolution_form(x)
        return self.matrix_form(x)

    def convolution_form(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """`nn.Conv1d` on [input, hidden] at each session, channels first."""
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
        return self._heads(h.transpose(1, 2), mask)

    def matrix_form(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The same on channel-last tensors, the convolutions as matrix products: a kernel-k
        convolution over members is one linear map of each member's k neighbours (`_neighbours`).
        The gates' input part is computed for all sessions at once, so the loop over sessions
        multiplies only the hidden state; and no session's slice of the inputs needs a gradient
        the size of the whole window, which the convolution form zeroes and sums at every step."""
        batch, steps, stocks, channels = x.shape
        hidden, projection, kernel = self.config.hidden, self.config.projection, self.config.kernel
        mask = x[:, -1, :, -1]
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
        return self._heads(h, mask)

    def _heads(self, h: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Final hidden state (B, S, H) and availability (B, S) -> index logit, member logits."""
        weights = mask.unsqueeze(-1)  # (B, S, 1)
        mean = (h * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)  # (B, H)
        peak = (h - 1e4 * (1.0 - weights)).amax(dim=1)  # (B, H): max over available members
        pooled = torch.cat([mean, peak], dim=1)  # (B, 2H)
        index_logit = self.head(self.dropout(pooled)).squeeze(1)  # (B,) logits
        stock_logits = None
        if self.stock_head is not None:  # (B, S): the 1x1 convolution as a linear map
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
