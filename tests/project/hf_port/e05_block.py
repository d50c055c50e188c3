import copy

from torch import nn

from .e01_layer_norm import LayerNorm
from .e02_mlp import MLP
from .e04_attention import CausalSelfAttention


def clones(module, n):
    # GPT2Model builds nn.ModuleList([GPT2Block(config, layer_idx=i) for i in range(...)]); the
    # exercise copies one block instead
    return nn.ModuleList([copy.deepcopy(module) for _ in range(n)])


class Block(nn.Module):
    # transformers' GPT2Block
    def __init__(self, n_embd, n_head, n_positions, dropout=0.0, eps=1e-5):
        super().__init__()
        hidden_size = n_embd

        self.ln_1 = LayerNorm(hidden_size, eps=eps)
        self.attn = CausalSelfAttention(hidden_size, n_head, n_positions, dropout, dropout)
        self.ln_2 = LayerNorm(hidden_size, eps=eps)
        self.mlp = MLP(hidden_size, dropout)

    def forward(self, hidden_states):
        residual = hidden_states
        hidden_states = self.ln_1(hidden_states)
        attn_output = self.attn(hidden_states)
        # residual connection
        hidden_states = attn_output + residual

        residual = hidden_states
        hidden_states = self.ln_2(hidden_states)
        feed_forward_hidden_states = self.mlp(hidden_states)
        # residual connection
        hidden_states = residual + feed_forward_hidden_states

        return hidden_states
