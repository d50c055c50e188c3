"""e01 — LayerNorm.

GPT-2 normalises every token's embedding before attention, before the MLP and once more at the
end (`ln_1`, `ln_2`, `ln_f`). Each token is normalised on its own, over its C features.

Check with: nox -s check -- e01          Hints: nox -s hint -- e01

Español: GPT-2 normaliza el embedding de cada token antes de la atención, antes del MLP y una vez
más al final (`ln_1`, `ln_2`, `ln_f`). Cada token se normaliza por separado, sobre sus C
características. Comprueba con `nox -s check -- e01`; pistas con `nox -s hint -- e01 --lang es`.
"""

import torch
from torch import nn


class LayerNorm(nn.Module):
    """Layer normalisation over the last dimension, with a learnt gain and shift.

    Args:
        n_embd: C, the size of the last dimension.
        eps: added to the variance for numerical safety (GPT-2 uses 1e-5).

    Parameters (names and shapes are GPT-2's, so its checkpoints load as they are):
        weight: (C,), starts at ones.
        bias:   (C,), starts at zeros.

    forward(x): x of shape (..., C) -> the same shape. For every vector v along the last axis:
        mean = average of v;  var = average of (v - mean)**2
        y = (v - mean) / sqrt(var + eps) * weight + bias

    Traps: the variance is the *biased* one (divide by C, not C - 1; torch's `var` is unbiased
    by default). eps goes *inside* the square root. Normalise the last axis only, never the batch
    or the sequence. Use `self.eps`, not a constant.

    Español: normalización sobre la última dimensión con ganancia (`weight`, (C,), unos) y
    desplazamiento (`bias`, (C,), ceros) aprendidos. forward(x): x de forma (..., C), misma forma
    de salida; para cada vector v de la última dimensión, y = (v - media) / sqrt(var + eps) *
    weight + bias. Trampas: la varianza es la sesgada (se divide por C, no por C - 1; `var` de
    torch no lo es por defecto); eps va *dentro* de la raíz; normaliza solo la última dimensión;
    usa `self.eps`.
    """

    def __init__(self, n_embd: int, eps: float = 1e-5):
        super().__init__()
        raise NotImplementedError("e01: LayerNorm.__init__ is not written yet")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError("e01: LayerNorm.forward is not written yet")
