import torch.nn.functional as F
from torch import nn

from .e02_mlp import Conv1D
from .e03_heads import merge_heads, split_heads


class CausalSelfAttention(nn.Module):
    def __init__(self, n_embd, n_head, n_positions, attn_dropout=0.0, resid_dropout=0.0):
        super().__init__()
        self.n_head, self.p = n_head, attn_dropout
        self.c_attn = Conv1D(3 * n_embd, n_embd)
        self.c_proj = Conv1D(n_embd, n_embd)
        self.resid_dropout = nn.Dropout(resid_dropout)

    def forward(self, x):
        qkv = self.c_attn(x).chunk(3, dim=-1)
        q, k, v = (split_heads(t, self.n_head) for t in qkv)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=self.p if self.training else 0.0)
        return self.resid_dropout(self.c_proj(merge_heads(y)))
