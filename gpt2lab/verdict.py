"""Compare a learner's output with the reference and explain the difference in the learner's terms.

Every hidden suite goes through `expect_close` (tensors) or `fail` (anything else), so every
failure reads the same way: the case, the shapes, the largest error and where, and, when the
output matches a classic mistake computed on the same case, the name of that mistake and a hint.
Expected values are never printed: only sizes of errors and positions.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import torch

from gpt2lab.i18n import _


class KataFailure(AssertionError):
    """A check that failed, with an explanation meant for the learner."""

    def __init__(self, message: str, *, diagnosis: str | None = None):
        super().__init__(message)
        self.diagnosis = diagnosis  # the name of a recognised classic mistake, if any


@dataclass(frozen=True)
class Mistake:
    """A classic wrong implementation, evaluated on the same case as the reference."""

    name: str  # "no causal mask"
    hint: str  # what to change, in one or two sentences
    output: torch.Tensor  # what that mistake returns on this case


@dataclass(frozen=True)
class KnownShape:
    """A wrong shape that a classic mistake returns: a shape hint with the mistake's name."""

    name: str  # "logits of the last position only"
    hint: str  # what it means and what to change


def fail(case: str, what: str, *lines: str, diagnosis: str | None = None) -> None:
    """Raise a KataFailure whose message reads: case, what went wrong, then detail lines."""
    body = "\n".join(f"  {line}" for line in lines if line)
    head = _("case: {case}").format(case=case)
    raise KataFailure(f"{head}\n{what}\n{body}".rstrip(), diagnosis=diagnosis)


def _shape(shape: Iterable[int]) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ")"


def explain_shape(got: tuple[int, ...], expected: tuple[int, ...],
                  known: Mapping[tuple[int, ...], str | KnownShape] | None = None) -> str:
    """Say what a wrong shape most likely means."""
    if known and got in known:
        hint = known[got]
        return hint.hint if isinstance(hint, KnownShape) else hint
    if sorted(got) == sorted(expected) and len(got) == len(expected):
        swapped = [i for i, (g, e) in enumerate(zip(got, expected)) if g != e]
        return _("the same sizes in another order (axes {axes} differ): "
                 "an axis is swapped; use transpose/permute to move axes, not view/reshape").format(axes=swapped)
    if torch.Size(got).numel() == torch.Size(expected).numel():
        return _("the same number of values in a different layout: "
                 "check which axes you split or merged")
    return _("check the shapes in the docstring, axis by axis")


def _index(flat: int, shape: torch.Size) -> tuple[int, ...]:
    index = []
    for size in reversed(shape):
        index.append(flat % size)
        flat //= size
    return tuple(reversed(index))


def _max_error(got: torch.Tensor, expected: torch.Tensor, atol: float, rtol: float):
    """(largest |error|, its index, how many values are out of tolerance)."""
    error = (got.double() - expected.double()).abs()
    allowed = atol + rtol * expected.double().abs()
    flat = int(error.flatten().argmax())
    return float(error.flatten()[flat]), _index(flat, expected.shape), int((error > allowed).sum())


def _local(got: object) -> object:
    """A tensor of the grader's own when `got` stands for one in the worker (grading)."""
    from gpt2lab.teacher import proxies, remote

    if isinstance(got, proxies.Proxy):
        try:
            return proxies.as_local(got)
        except (TypeError, remote.LearnerError):
            return None  # not a tensor: said below as "returned ..., expected a torch.Tensor"
    return got


def expect_tensor(got: object, expected: torch.Tensor, *, case: str, what: str,
                  shape_hints: Mapping[tuple[int, ...], str | KnownShape] | None = None) -> torch.Tensor:
    """Check type, shape, dtype and device; return `got` as a tensor when all match. A wrong shape
    listed in `shape_hints` gets its hint, and its mistake's name when it is a KnownShape."""
    got, kind = _local(got), type(got).__name__
    if not isinstance(got, torch.Tensor):
        fail(case, _("{what} returned {kind}, expected a torch.Tensor").format(what=what, kind=kind),
             _("expected shape {shape}").format(shape=_shape(expected.shape)),
             _("did you forget a `return`?") if kind == "NoneType" else "")
    if tuple(got.shape) != tuple(expected.shape):
        known = (shape_hints or {}).get(tuple(got.shape))
        named = isinstance(known, KnownShape)
        why = explain_shape(tuple(got.shape), tuple(expected.shape), shape_hints)
        fail(case, _("{what} has the wrong shape").format(what=what),
             _("expected {expected}, got {got}").format(expected=_shape(expected.shape), got=_shape(got.shape)),
             _("this looks like a classic mistake: {name}").format(name=known.name) if named else "",
             _("hint: {hint}").format(hint=why) if named else _("likely cause: {cause}").format(cause=why),
             diagnosis=known.name if named else None)
    if got.device != expected.device:
        fail(case, _("{what} is on {got}, but the input was on {expected}").format(
                 what=what, got=got.device, expected=expected.device),
             _("create new tensors on the input's device (device=x.device), or register them as buffers"))
    if got.dtype != expected.dtype:
        fail(case, _("{what} has dtype {got}, expected {expected}").format(
                 what=what, got=got.dtype, expected=expected.dtype),
             _("keep the input's dtype: create new tensors with dtype=x.dtype"))
    return got


def differ(what: str) -> str:
    """'{what} differs' or '{what} differ': "the logits differ", "LayerNorm.forward differs".

    The head of the phrase is what comes before " of ", " for ", " with " or "(": a plain
    lowercase word ending in s (not ss, not 's) is a plural noun; a code name (split_heads,
    GPT2.forward) is one thing."""
    head = re.split(r" of | for | with |\(", what, maxsplit=1)[0].strip()
    last = head.split()[-1] if head.split() else ""
    plural = (re.fullmatch(r"[a-z]+", last) is not None and last.endswith("s")
              and not last.endswith("ss"))
    return f"{what} {'differ' if plural else 'differs'}"


def _differs_from_gpt2(what: str) -> str:
    """'{what} differ(s) from GPT-2's', in the learner's language."""
    if differ(what).endswith(" differ"):
        return _("{what} differ from GPT-2's").format(what=what)
    return _("{what} differs from GPT-2's").format(what=what)


def expect_close(got: object, expected: torch.Tensor, *, case: str, what: str,
                 atol: float, rtol: float, mistakes: Iterable[Mistake] = (),
                 shape_hints: Mapping[tuple[int, ...], str | KnownShape] | None = None) -> None:
    """Fail with an explanation unless |got - expected| <= atol + rtol * |expected| everywhere.

    A classic mistake is named only when it explains the difference: it differs from the expected
    output on this case, `got` is within 10 tolerances of it everywhere, and nearer to it than to the
    expected output (a tiny difference is not blamed on a mistake that differs a little too)."""
    got = expect_tensor(got, expected, case=case, what=what, shape_hints=shape_hints)
    got, expected = got.detach(), expected.detach()
    if not (expected.is_floating_point() or expected.is_complex()):
        return _expect_same_values(got, expected, case=case, what=what, mistakes=mistakes)
    if not torch.isfinite(got).all() and torch.isfinite(expected).all():
        bad = torch.nonzero(~torch.isfinite(got))[0].tolist()
        fail(case, _("{what} contains NaN or inf (first at index {index})").format(what=what, index=tuple(bad)),
             _("look for a division by zero, a sqrt of a negative number or a softmax over only -inf"))
    largest, where, count = _max_error(got, expected, atol, rtol)
    if count == 0:
        return
    lines = [_("largest error {largest:.2e} at index {index} (allowed: {atol:.0e} + {rtol:.0e}·|expected|)").format(
                 largest=largest, index=where, atol=atol, rtol=rtol),
             _("{count} of {total} values are off ({percent})").format(
                 count=count, total=expected.numel(), percent=_percent(count, expected.numel()))]
    _name_the_mistake(got, expected, case, what, lines, mistakes, atol, rtol)
    fail(case, _differs_from_gpt2(what), *lines)


def _percent(count: int, total: int) -> str:
    share = 100 * count / total
    return f"{share:.1f}%" if share >= 0.1 else _("under 0.1%")


def _name_the_mistake(got, expected, case, what, lines, mistakes, atol: float, rtol: float) -> None:
    """Fail naming a classic mistake when `got` matches what that mistake computes on this case,
    and is nearer to it than to the expected output."""
    largest = _max_error(got, expected, atol, rtol)[0]
    for mistake in mistakes:
        if mistake.output.shape != got.shape or _max_error(mistake.output, expected, atol, rtol)[2] == 0:
            continue  # this mistake makes no difference on this case
        near = _max_error(got, mistake.output, 10 * atol, 10 * rtol)
        if near[2] == 0 and near[0] < largest:
            fail(case, _differs_from_gpt2(what), *lines,
                 _("this looks like a classic mistake: {name}").format(name=mistake.name),
                 _("hint: {hint}").format(hint=mistake.hint), diagnosis=mistake.name)


SHOWN = 3  # differing positions listed for integer tensors


def _expect_same_values(got: torch.Tensor, expected: torch.Tensor, *, case: str, what: str,
                        mistakes: Iterable[Mistake]) -> None:
    """Token ids, masks, counts: exact, and a difference is told as positions and values, not errors."""
    wrong = got != expected
    count = int(wrong.sum())
    if count == 0:
        return
    ids = expected.dtype != torch.bool  # the kata's integer tensors are token ids; bool ones, masks
    places = [tuple(i) for i in torch.nonzero(wrong)[:SHOWN].tolist()]
    at = "; ".join(_("at {index} yours is {got}, GPT-2's {expected}").format(
        index=_shape(i), got=got[i].item(), expected=expected[i].item()) for i in places)
    differing = (_("{count} of {total} ids differ ({percent}): {at}") if ids
                 else _("{count} of {total} entries differ ({percent}): {at}"))
    lines = [differing.format(count=count, total=expected.numel(), percent=_percent(count, expected.numel()),
                              at=at) + ("; ..." if count > SHOWN else "")]
    if ids and wrong.dim() >= 2 and wrong.shape[-1] > 1:
        first = int(torch.nonzero(wrong.reshape(-1, wrong.shape[-1]).any(0))[0])
        lines.append(_("along the sequence, the first position where they differ is {first}").format(first=first))
    _name_the_mistake(got, expected, case, what, lines, mistakes, 0.0, 0.0)
    fail(case, _differs_from_gpt2(what), *lines)


def expect_equal(got: object, expected: torch.Tensor, *, case: str, what: str,
                 mistakes: Iterable[Mistake] = (),
                 shape_hints: Mapping[tuple[int, ...], str | KnownShape] | None = None) -> None:
    """Exact comparison, for pure data movement (splitting heads, token ids)."""
    expect_close(got, expected, case=case, what=what, atol=0.0, rtol=0.0,
                 mistakes=mistakes, shape_hints=shape_hints)


def expect_loadable(module: object, state_dict: Mapping[str, torch.Tensor], *, case: str,
                    what: str) -> None:
    """Load a Hugging Face state dict into the learner's module, or explain why it cannot."""
    if not isinstance(module, torch.nn.Module):
        fail(case, _("{what} is a {kind}, expected a torch.nn.Module").format(what=what, kind=type(module).__name__),
             _("subclass nn.Module and call super().__init__() first"))
    own = module.state_dict()
    missing = [k for k in state_dict if k not in own]
    extra = [k for k in own if k not in state_dict]
    misshaped = [_("wrong shape, {name}: yours {yours}, GPT-2's {theirs}").format(
                     name=k, yours=_shape(own[k].shape), theirs=_shape(v.shape))
                 for k, v in state_dict.items() if k in own and own[k].shape != v.shape]
    if missing or extra or misshaped:
        fail(case, _("{what} cannot load GPT-2's weights").format(what=what),
             _("missing (GPT-2 has them, you do not): {names}").format(names=", ".join(missing)) if missing else "",
             _("unexpected (you have them, GPT-2 does not): {names} — a fixed tensor such as a mask must be a "
               "buffer registered with persistent=False").format(names=", ".join(extra)) if extra else "",
             *misshaped,
             _("use GPT-2's names and shapes exactly, as the docstring lists them"))
    module.load_state_dict(state_dict)


class AdamSlack:
    """How far from the reference's each weight of a correct training step may land: `atol`, plus
    what Adam can make of float32 rounding in the gradients (call before_step and after_step around
    each of the reference's optimizer.step(), then allowed()).

    Adam moves a weight by lr * r, r = m / (sqrt(v) + eps) (bias-corrected), about lr whatever the
    size of its gradient: where the gradients are about 0 (rounding noise: the key bias's are exactly 0
    in exact arithmetic, since the softmax ignores it), r is noise divided by noise, anything from -1
    to 1. Two correct implementations' gradients differ by less than 1e-6 of each tensor's largest
    (measured on e10's models); with gradients off by at most D = grad_noise times that, m and
    sqrt(v) move by at most D, so r moves by at most D (1 + |r|) / (sqrt(v) + eps - D), and never by
    more than |r| + R (|m| <= R sqrt(v), Cauchy-Schwarz over Adam's averaging weights). Steps add up.
    Most weights keep `atol`; SGD's update is linear in the gradients and keeps it everywhere.
    """

    def __init__(self, model: torch.nn.Module, *, atol: float, grad_noise: float, prefix: str = ""):
        self.atol, self.grad_noise = atol, grad_noise
        self.names = {p: name.removeprefix(prefix) for name, p in model.named_parameters()}
        self.noise = dict.fromkeys(self.names, 0.0)
        self.slack = {p: torch.zeros_like(p, dtype=torch.float64) for p in self.names}
        self.lrs = {}

    def before_step(self, optimizer: torch.optim.Optimizer) -> None:
        for group in optimizer.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self.noise[p] = max(self.noise[p], self.grad_noise * p.grad.abs().max().item())
                self.lrs[p] = group["lr"]

    def after_step(self, optimizer: torch.optim.Optimizer) -> None:
        for group in optimizer.param_groups:
            for p in group["params"]:
                state = optimizer.state.get(p, {})
                if "exp_avg_sq" in state:
                    self.slack[p] += self.lrs[p] * adam_reach(state, *group["betas"], group["eps"], self.noise[p])

    def allowed(self) -> dict[str, torch.Tensor]:
        """Per weight (by name, without the prefix), the largest difference a correct step allows."""
        return {name: self.atol + self.slack[p] for p, name in self.names.items()}


def adam_reach(state: Mapping, beta1: float, beta2: float, eps: float, noise: float) -> torch.Tensor:
    """The most |r| can move when every gradient so far moves by at most `noise` (see AdamSlack)."""
    t = int(state["step"])
    s = (state["exp_avg_sq"].double() / (1 - beta2**t)).sqrt()
    r = (state["exp_avg"].double() / (1 - beta1**t)).abs() / (s + eps)
    averaging = [((1 - beta1) * beta1 ** (t - k) / (1 - beta1**t), (1 - beta2) * beta2 ** (t - k) / (1 - beta2**t))
                 for k in range(1, t + 1)]
    R = math.sqrt(sum(a * a / b for a, b in averaging))
    margin = s + eps - noise
    moved = torch.where(margin > 0, noise * (1 + r) / margin.clamp_min(1e-30), math.inf)
    return torch.minimum(moved, r + R)
