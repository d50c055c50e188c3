"""Checks of behaviour rather than values: dropout in training mode, determinism in eval mode.

Shared by every suite whose module has dropout (MLP, attention, block, the whole model).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from gpt2lab.i18n import _
from gpt2lab.verdict import fail


def expect_eval_deterministic(forward: Callable[[], torch.Tensor], *, case: str, what: str) -> torch.Tensor:
    """Two calls in eval() mode must give the same output."""
    with torch.no_grad():
        first, second = forward(), forward()
    if not torch.equal(first, second):
        fail(case, _("{what} changes between two calls in eval() mode").format(what=what),
             _("dropout must be off in eval(): use nn.Dropout modules, or pass training=self.training "
               "to F.dropout (its default is training=True)"))
    return first


def expect_output_dropout(train: torch.Tensor, evaluated: torch.Tensor, p: float, *,
                          case: str, what: str) -> None:
    """Dropout on the output: a fraction p of values zeroed, the others scaled by 1 / (1 - p)."""
    zeroed = (train == 0) & (evaluated != 0)
    fraction = zeroed.float().mean().item()
    if abs(fraction - p) > 0.06:
        fail(case, _("{what} in training mode zeroes {zeroed:.0f}% of its output, "
                     "expected about {expected:.0f}% (dropout p={p})").format(
                 what=what, zeroed=100 * fraction, expected=100 * p, p=p),
             _("apply dropout to the output, last, with the probability given to the constructor")
             if fraction < p else _("apply dropout once, at the output"))
    kept = ~zeroed
    scaled = evaluated[kept] / (1 - p)
    error = (train[kept] - scaled).abs().max().item()
    if error > 1e-4 * (1 + scaled.abs().max().item()):
        fail(case, _("{what} in training mode: the values dropout keeps are not the eval() values "
                     "scaled by 1/(1-p) (largest error {error:.2e})").format(what=what, error=error),
             _("dropout belongs after the last layer only; nn.Dropout rescales the kept values for you"))


def expect_dropout_unbiased(train_forward: Callable[[], torch.Tensor], evaluated: torch.Tensor, *,
                            samples: int, case: str, what: str) -> None:
    """Inner dropout (attention weights): random in training, and right on average."""
    with torch.no_grad():
        outputs = torch.stack([train_forward() for _ in range(samples)])
    if torch.equal(outputs[0], outputs[1]):
        fail(case, _("{what} gives the same output twice in training mode with dropout > 0").format(what=what),
             _("the dropout probability given to the constructor must be used in training mode"))
    mean = outputs.mean(0)
    relative = ((mean - evaluated).norm() / evaluated.norm()).item()
    if relative > 0.08:
        fail(case, _("{what}: averaged over {samples} training-mode calls, the output is "
                     "{away:.0f}% away from the eval() output").format(what=what, samples=samples,
                                                                      away=100 * relative),
             _("dropout must keep the expected value: kept values are scaled by 1/(1-p) "
               "(nn.Dropout does it); and dropout goes where the docstring says, nowhere else"))
