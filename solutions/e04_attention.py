"""e04 — causal multi-head self-attention, as in GPT-2."""

import math

import torch
from torch import nn

from .e02_mlp import Conv1D
from .e03_heads import merge_heads, split_heads


class CausalSelfAttention(nn.Module):
    def __init__(self, n_embd: int, n_head: int, n_positions: int,
                 attn_dropout: float = 0.0, resid_dropout: float = 0.0):
        super().__init__()
        assert n_embd % n_head == 0, f"n_embd={n_embd} is not divisible by n_head={n_head}"
        self.n_head = n_head
        self.c_attn = Conv1D(3 * n_embd, n_embd)  # C -> q, k, v side by side
        self.c_proj = Conv1D(n_embd, n_embd)
        self.attn_dropout = nn.Dropout(attn_dropout)
        self.resid_dropout = nn.Dropout(resid_dropout)
        # mask[t, s] is True where token t may look at token s (s <= t); not a parameter, not saved
        mask = torch.tril(torch.ones(n_positions, n_positions, dtype=torch.bool))
        self.register_buffer("mask", mask.view(1, 1, n_positions, n_positions), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)  # 3 x (B, T, C)
        q, k, v = (split_heads(t, self.n_head) for t in (q, k, v))  # 3 x (B, nh, T, hs)

        scores = q @ k.transpose(-2, -1) / math.sqrt(k.size(-1))  # (B, nh, T, T)
        scores = scores.masked_fill(~self.mask[:, :, :T, :T], float("-inf"))  # before the softmax
        weights = self.attn_dropout(torch.softmax(scores, dim=-1))  # (B, nh, T, T), rows sum to 1

        y = merge_heads(weights @ v)  # (B, nh, T, hs) -> (B, T, C)
        return self.resid_dropout(self.c_proj(y))  # (B, T, C)
