"""e05 — the transformer block: attention, then the MLP, each reading a normalised copy of the
residual stream and adding its result back to it (pre-norm)."""

import copy

import torch
from torch import nn

from .e01_layer_norm import LayerNorm
from .e02_mlp import MLP
from .e04_attention import CausalSelfAttention


def clones(module: nn.Module, n: int) -> nn.ModuleList:
    """n deep copies of `module`: each has its own parameters, none is `module` itself."""
    return nn.ModuleList([copy.deepcopy(module) for _ in range(n)])


class Block(nn.Module):
    def __init__(self, n_embd: int, n_head: int, n_positions: int, dropout: float = 0.0,
                 eps: float = 1e-5):
        super().__init__()
        self.ln_1 = LayerNorm(n_embd, eps=eps)
        self.attn = CausalSelfAttention(n_embd, n_head, n_positions,
                                        attn_dropout=dropout, resid_dropout=dropout)
        self.ln_2 = LayerNorm(n_embd, eps=eps)
        self.mlp = MLP(n_embd, dropout=dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, T, C), the residual stream. Each sub-layer reads a normalised copy of it and adds
        # its output back; the stream itself is never normalised (pre-norm, as in GPT-2).
        x = x + self.attn(self.ln_1(x))  # (B, T, C): tokens exchange information
        x = x + self.mlp(self.ln_2(x))  # (B, T, C): each token is processed on its own
        return x
