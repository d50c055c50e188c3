import copy

import torch
from torch import nn

from .e01_layer_norm import LayerNorm
from .e02_mlp import MLP
from .e04_attention import CausalSelfAttention


def clones(module, n):
    copies = nn.ModuleList()
    for _ in range(n):
        copies.append(copy.deepcopy(module))
    return copies


class Block(nn.Module):
    def __init__(self, n_embd, n_head, n_positions, dropout=0.0, eps=1e-5):
        super().__init__()
        self.mlp = MLP(n_embd, dropout)
        self.ln_2 = LayerNorm(n_embd, eps)
        self.attn = CausalSelfAttention(n_embd, n_head, n_positions, dropout, dropout)
        self.ln_1 = LayerNorm(n_embd, eps)

    def forward(self, x):
        for norm, layer in ((self.ln_1, self.attn), (self.ln_2, self.mlp)):
            x = torch.add(x, layer(norm(x)))
        return x
