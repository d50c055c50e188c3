"""e01 — LayerNorm: normalise each token's embedding, then scale and shift it."""

import torch
from torch import nn


class LayerNorm(nn.Module):
    def __init__(self, n_embd: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(n_embd))  # gain, (C,)
        self.bias = nn.Parameter(torch.zeros(n_embd))  # shift, (C,)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (..., C); statistics over the last axis only, one pair per token
        mean = x.mean(dim=-1, keepdim=True)  # (..., 1)
        var = x.var(dim=-1, keepdim=True, unbiased=False)  # (..., 1), divides by C, not C - 1
        x_hat = (x - mean) / torch.sqrt(var + self.eps)  # (..., C), eps inside the root
        return x_hat * self.weight + self.bias  # (..., C)
