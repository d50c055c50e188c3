"""e02 — the MLP: Conv1D, GELU, Conv1D, dropout.

After attention, every token goes through the same two-layer network: expand C to 4C, apply
GELU, project back to C, apply dropout. GPT-2 stores its linear layers as `Conv1D` (a name kept
from OpenAI's TensorFlow code): a plain linear layer whose weight is stored as (in, out).

Check with: nox -s check -- e02          Hints: nox -s hint -- e02

Español: tras la atención, cada token pasa por la misma red de dos capas: expande C a 4C,
aplica GELU, proyecta de vuelta a C y aplica dropout. GPT-2 guarda sus capas lineales como
`Conv1D` (un nombre heredado del código de OpenAI en TensorFlow): una capa lineal normal cuyo
peso se guarda como (entrada, salida).
"""

import torch
from torch import nn


def gelu(x: torch.Tensor) -> torch.Tensor:
    """GPT-2's GELU: the tanh approximation, elementwise, any shape in, same shape out.

        gelu(x) = 0.5 * x * (1 + tanh( sqrt(2 / pi) * (x + 0.044715 * x**3) ))

    Trap: `torch.nn.functional.gelu(x)` with its default computes the exact erf form, which
    differs by up to 4.7e-4 (near x = 2.7): enough for GPT-2's pretrained text to change.

    Español: la GELU de GPT-2 es la aproximación con tanh de arriba, elemento a elemento, misma
    forma de entrada y salida. Trampa: `F.gelu(x)` por defecto calcula la forma exacta con erf,
    que difiere hasta 4.7e-4 (cerca de x = 2.7).
    """
    raise NotImplementedError("e02: gelu is not written yet")


class Conv1D(nn.Module):
    """A linear layer in GPT-2's checkpoint layout: forward(x) = x @ weight + bias.

    Args:
        nf: number of output features.   nx: number of input features.  (Mind the order!)

    Parameters:
        weight: (nx, nf), i.e. (in, out), the transpose of nn.Linear's (out, in).
                Initialise it with normal noise, std 0.02 (GPT-2's initialisation).
        bias:   (nf,), zeros.

    forward(x): (..., nx) -> (..., nf).

    Trap: do not transpose the weight (that is what nn.Linear would need). With a square layer
    (nx == nf) the shapes still work and the result is silently wrong.

    Español: capa lineal con el formato de los checkpoints de GPT-2, forward(x) = x @ weight +
    bias. Argumentos en el orden (nf salidas, nx entradas). `weight` tiene forma (nx, nf) —
    (entrada, salida), la traspuesta de nn.Linear —, inicializada con ruido normal de desviación
    0.02; `bias` (nf,) con ceros. Trampa: no traspongas el peso; con una capa cuadrada las formas
    encajan y el resultado es incorrecto sin avisar.
    """

    def __init__(self, nf: int, nx: int):
        super().__init__()
        raise NotImplementedError("e02: Conv1D.__init__ is not written yet")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError("e02: Conv1D.forward is not written yet")


class MLP(nn.Module):
    """GPT-2's feed-forward block.

    Args:
        n_embd: C.   dropout: probability of the dropout applied to the output.

    Submodules (GPT-2's names, so `GPT2MLP`'s state dict loads as it is):
        c_fc:    Conv1D(4 * C, C)    C -> 4C
        c_proj:  Conv1D(C, 4 * C)    4C -> C
        dropout: nn.Dropout(dropout)

    forward(x): (B, T, C) -> (B, T, C):  dropout(c_proj(gelu(c_fc(x)))).

    Traps: use your own `gelu` (tanh form). Dropout goes at the end, after c_proj, and only in
    training mode: `nn.Dropout` handles that; a bare `F.dropout(x, p)` is on even in eval().

    Español: el bloque feed-forward de GPT-2. Submódulos: `c_fc` = Conv1D(4 * C, C), `c_proj` =
    Conv1D(C, 4 * C), `dropout` = nn.Dropout(dropout). forward(x): (B, T, C) -> (B, T, C) =
    dropout(c_proj(gelu(c_fc(x)))). Trampas: usa tu propia `gelu` (forma tanh); el dropout va al
    final, después de c_proj, y solo en modo entrenamiento (`nn.Dropout` lo gestiona; un
    `F.dropout(x, p)` suelto sigue activo en eval()).
    """

    def __init__(self, n_embd: int, dropout: float = 0.0):
        super().__init__()
        raise NotImplementedError("e02: MLP.__init__ is not written yet")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError("e02: MLP.forward is not written yet")
