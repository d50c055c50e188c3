"""e05 — the transformer block.

GPT-2 is a stack of identical blocks. A block keeps a running sum, the residual stream x, and
lets two sub-layers write into it: attention (tokens look at earlier tokens) and the MLP (each
token on its own). Each sub-layer reads a *normalised copy* of the stream and *adds* its output
back: the stream itself is never normalised (this is "pre-norm").

Check with: nox -s check -- e05          Hints: nox -s hint -- e05
Builds on: e01 (LayerNorm), e02 (MLP) and e04 (CausalSelfAttention).

Español: GPT-2 es una pila de bloques idénticos. Un bloque mantiene una suma, el flujo residual
x, y deja que dos subcapas escriban en él: la atención (cada token mira a los anteriores) y el MLP
(cada token por separado). Cada subcapa lee una *copia normalizada* del flujo y *suma* su salida:
el flujo nunca se normaliza (esto es "pre-norm"). Usa tu LayerNorm (e01), tu MLP (e02) y tu
CausalSelfAttention (e04).
"""

import copy  # noqa: F401  (copy.deepcopy makes independent copies)

import torch
from torch import nn

from .e01_layer_norm import LayerNorm  # noqa: F401  (yours, from e01)
from .e02_mlp import MLP  # noqa: F401  (yours, from e02)
from .e04_attention import CausalSelfAttention  # noqa: F401  (yours, from e04)


def clones(module: nn.Module, n: int) -> nn.ModuleList:
    """n independent copies of a module, in an nn.ModuleList.

    Every copy starts with the same values as `module` but owns its parameters: changing one copy
    changes no other copy and not `module`. GPT2 (e06) builds its n_layer blocks with it.

    Trap: `nn.ModuleList([module] * n)` (or appending the same module n times) gives n names for
    *one* module: the "12 layers" would share one set of weights. Use copy.deepcopy.

    Español: n copias independientes de un módulo, en un nn.ModuleList. Cada copia empieza con los
    mismos valores que `module` pero tiene sus propios parámetros: cambiar una copia no cambia
    ninguna otra ni `module`. Trampa: `nn.ModuleList([module] * n)` da n nombres a *un solo*
    módulo, con los pesos compartidos. Usa copy.deepcopy.
    """
    raise NotImplementedError("e05: clones is not written yet")


class Block(nn.Module):
    """One GPT-2 block (Hugging Face's GPT2Block).

    Args:
        n_embd: C.  n_head: number of attention heads.  n_positions: the longest sequence.
        dropout: the dropout probability of every dropout inside the block: give it to the
            attention (as attn_dropout and resid_dropout) and to the MLP. The block adds no
            dropout of its own.
        eps: the eps of both LayerNorms.

    Submodules (GPT-2's names; a `GPT2Block` state dict must load as it is):
        ln_1: your LayerNorm(C)              before the attention
        attn: your CausalSelfAttention       (e04)
        ln_2: your LayerNorm(C)              before the MLP
        mlp:  your MLP(C)                    (e02)

    forward(x): (B, T, C) -> (B, T, C):
        x = x + attn(ln_1(x))
        x = x + mlp(ln_2(x))

    Traps: normalise the input of each sub-layer, not the sum (post-norm, x = ln(x + f(x)), is the
    original Transformer's order, not GPT-2's). Keep both residual additions. ln_1 and ln_2 are
    two different LayerNorms.

    Español: un bloque de GPT-2 (GPT2Block de Hugging Face). Submódulos `ln_1` (tu LayerNorm),
    `attn` (tu CausalSelfAttention), `ln_2` (tu LayerNorm) y `mlp` (tu MLP); `dropout` se pasa a la
    atención (attn_dropout y resid_dropout) y al MLP, el bloque no añade otro; `eps` es el de las
    dos LayerNorm. forward(x): (B, T, C) -> (B, T, C): x = x + attn(ln_1(x)); después
    x = x + mlp(ln_2(x)). Trampas: normaliza la entrada de cada subcapa, no la suma (post-norm,
    x = ln(x + f(x)), es el orden del Transformer original, no el de GPT-2); conserva las dos
    sumas residuales; ln_1 y ln_2 son dos LayerNorm distintas.
    """

    def __init__(self, n_embd: int, n_head: int, n_positions: int, dropout: float = 0.0,
                 eps: float = 1e-5):
        super().__init__()
        raise NotImplementedError("e05: Block.__init__ is not written yet")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError("e05: Block.forward is not written yet")
