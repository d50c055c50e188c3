"""e03 — splitting the embedding into heads, and merging them back.

Multi-head attention runs n_head small attentions side by side. Each token's C features are cut
into n_head consecutive pieces of hs = C // n_head features; head h gets piece h of every token.

Check with: nox -s check -- e03          Hints: nox -s hint -- e03

Español: la atención multicabezal ejecuta n_head atenciones pequeñas en paralelo. Las C
características de cada token se cortan en n_head trozos consecutivos de hs = C // n_head; la
cabeza h recibe el trozo h de cada token.
"""

import torch


def split_heads(x: torch.Tensor, n_head: int) -> torch.Tensor:
    """(B, T, C) -> (B, n_head, T, hs), with hs = C // n_head.

    out[b, h, t, :] == x[b, t, h * hs:(h + 1) * hs]

    Trap: `x.view(B, n_head, T, hs)` has the right shape and the wrong values: it mixes tokens.
    Split the last axis first, (B, T, n_head, hs), then move the head axis.

    Español: (B, T, C) -> (B, n_head, T, hs) con hs = C // n_head, y out[b, h, t, :] ==
    x[b, t, h*hs:(h+1)*hs]. Trampa: `x.view(B, n_head, T, hs)` da la forma correcta y los valores
    incorrectos (mezcla tokens). Divide primero el último eje y después mueve el eje de cabezas.
    """
    raise NotImplementedError("e03: split_heads is not written yet")


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """(B, n_head, T, hs) -> (B, T, n_head * hs): the inverse of split_heads.

    merge_heads(split_heads(x, n)) == x, exactly.

    Trap: after moving an axis the tensor is not contiguous, so `.view` refuses it; and reshaping
    (B, n_head, T, hs) straight to (B, T, C) without moving the axis back gives wrong values.

    Español: (B, n_head, T, hs) -> (B, T, n_head * hs), la inversa de split_heads:
    merge_heads(split_heads(x, n)) == x exactamente. Trampa: tras mover un eje el tensor no es
    contiguo y `.view` lo rechaza; y pasar de (B, n_head, T, hs) a (B, T, C) sin devolver el eje
    a su sitio da valores incorrectos.
    """
    raise NotImplementedError("e03: merge_heads is not written yet")
