"""e04 — causal multi-head self-attention.

Every token builds a query, a key and a value; each head compares a token's query with the keys
of that token and of the tokens *before* it (never after: GPT-2 predicts the next token, so it
must not see it), and averages their values with the softmax of the scores.

Check with: nox -s check -- e04          Hints: nox -s hint -- e04
Builds on: e02 (Conv1D) and e03 (split_heads, merge_heads).

Español: cada token construye una consulta (query), una clave (key) y un valor (value); cada
cabeza compara la consulta de un token con las claves de ese token y de los *anteriores* (nunca
los siguientes: GPT-2 predice el siguiente token y no debe verlo), y promedia sus valores con el
softmax de las puntuaciones. Usa tu Conv1D (e02) y tus split_heads/merge_heads (e03).
"""

import torch
from torch import nn

from .e02_mlp import Conv1D  # noqa: F401  (yours, from e02)
from .e03_heads import merge_heads, split_heads  # noqa: F401  (yours, from e03)


class CausalSelfAttention(nn.Module):
    """GPT-2's attention layer.

    Args:
        n_embd: C.  n_head: number of heads (C must be divisible by it).
        n_positions: the longest sequence the layer will see (1024 in GPT-2).
        attn_dropout: dropout on the attention weights.  resid_dropout: dropout on the output.

    Submodules (GPT-2's names; `GPT2Attention`'s state dict must load as it is):
        c_attn: Conv1D(3 * C, C)   x -> [q | k | v] side by side, in that order
        c_proj: Conv1D(C, C)       the output projection
    No other learnable parameters. A causal mask, if you keep one, is a buffer registered with
    `persistent=False` (GPT-2's checkpoints do not contain it).

    forward(x): (B, T, C) -> (B, T, C), for any 1 <= T <= n_positions:
        q, k, v = split of c_attn(x) into three (B, T, C), each split into heads (B, nh, T, hs)
        scores = q @ k^T / sqrt(hs)                         (B, nh, T, T)
        scores[..., t, s] = -inf wherever s > t              (the causal mask, before softmax)
        weights = dropout(softmax(scores over the last axis))
        y = c_proj(merge_heads(weights @ v)), then resid dropout

    Traps: scale by 1/sqrt(hs), the size of one head, not 1/hs and not 1/sqrt(C). Mask *before*
    the softmax (zeroing weights after it leaves rows that do not sum to one). The softmax runs over
    the keys (last axis). Slice a stored mask to the current T.

    Español: la capa de atención de GPT-2. Submódulos `c_attn` = Conv1D(3 * C, C) (q, k, v juntos,
    en ese orden) y `c_proj` = Conv1D(C, C); ningún otro parámetro aprendible (una máscara causal
    se registra como buffer con `persistent=False`). forward(x): (B, T, C) -> (B, T, C) para todo
    1 <= T <= n_positions: puntuaciones q @ k^T / sqrt(hs) de forma (B, nh, T, T), -inf donde
    s > t (antes del softmax), softmax sobre el último eje, dropout, pesos @ v, merge_heads,
    c_proj y dropout residual. Trampas: escala por 1/sqrt(hs) (el tamaño de una cabeza), no 1/hs
    ni 1/sqrt(C); enmascara *antes* del softmax; el softmax va sobre las claves (último eje);
    recorta la máscara guardada al T actual.
    """

    def __init__(self, n_embd: int, n_head: int, n_positions: int,
                 attn_dropout: float = 0.0, resid_dropout: float = 0.0):
        super().__init__()
        raise NotImplementedError("e04: CausalSelfAttention.__init__ is not written yet")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError("e04: CausalSelfAttention.forward is not written yet")
