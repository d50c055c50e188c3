"""e02 — GPT-2's feed-forward block: Conv1D, GELU (tanh form), Conv1D, dropout."""

import math

import torch
from torch import nn


def gelu(x: torch.Tensor) -> torch.Tensor:
    # GPT-2's tanh approximation of x * Phi(x); the exact erf form differs by up to 4.7e-4
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


class Conv1D(nn.Module):
    """A linear layer stored the way GPT-2's checkpoints store it: weight (nx, nf), no transpose."""

    def __init__(self, nf: int, nx: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(nx, nf))  # (in, out)
        self.bias = nn.Parameter(torch.zeros(nf))  # (out,)
        nn.init.normal_(self.weight, std=0.02)  # GPT-2's initialisation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (..., nx) -> (..., nf)
        return x @ self.weight + self.bias


class MLP(nn.Module):
    def __init__(self, n_embd: int, dropout: float = 0.0):
        super().__init__()
        self.c_fc = Conv1D(4 * n_embd, n_embd)  # C -> 4C
        self.c_proj = Conv1D(n_embd, 4 * n_embd)  # 4C -> C
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, T, C)
        h = gelu(self.c_fc(x))  # (B, T, 4C)
        return self.dropout(self.c_proj(h))  # (B, T, C)
