"""Hidden suite for e02: gelu, Conv1D and MLP against transformers' gelu_new, Conv1D and GPT2MLP."""

import math

import pytest
import torch
import torch.nn.functional as F

from gpt2lab import reference
from gpt2lab.i18n import _
from gpt2lab.probes import expect_eval_deterministic, expect_output_dropout
from gpt2lab.verdict import Mistake, expect_close, expect_loadable, fail

pytestmark = pytest.mark.kata("e02")

ATOL, RTOL = 2e-5, 1e-4  # matmuls: CPU vs CUDA, summation order
GELU_ATOL, GELU_RTOL = 1e-6, 1e-6  # the erf form is 4.7e-4 away


def gelu_mistakes(x):
    return [
        Mistake(_("exact (erf) GELU"), _("GPT-2 uses the tanh approximation; F.gelu(x) defaults to the erf "
                "form: write the tanh formula, or F.gelu(x, approximate='tanh')"), F.gelu(x)),
        Mistake(_("sigmoid approximation of GELU"), _("GPT-2 uses the tanh formula, not x * sigmoid(1.702 x)"),
                x * torch.sigmoid(1.702 * x)),
        Mistake(_("ReLU instead of GELU"), _("GELU is smooth and slightly negative below zero"), F.relu(x)),
        Mistake(_("missing factor 0.5"), "gelu(x) = 0.5 * x * (1 + tanh(...))",
                x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))),
    ]


@pytest.mark.parametrize("shape", [(200001,), (2, 3, 5, 7)], ids=["wide-range", "4d"])
def test_gelu(kata, device, seed, shape):
    if len(shape) == 1:  # every x from -12 to 12, where erf and tanh forms differ most near 2.7
        x = torch.linspace(-12, 12, shape[0], device=device)
    else:
        x = reference.randn(*shape, seed=1000 * seed, std=3.0, device=device)
    expect_close(kata.gelu(x), reference.gelu(x), case=_("gelu on x of shape {shape}").format(shape=tuple(x.shape)),
                 what="gelu(x)", atol=GELU_ATOL, rtol=GELU_RTOL, mistakes=gelu_mistakes(x))


def hf_conv1d(nf, nx, seed):
    from transformers.pytorch_utils import Conv1D as HFConv1D

    return reference.randomize_(HFConv1D(nf, nx), seed).eval()


def test_conv1d_parameters(kata):
    conv = kata.Conv1D(5, 3)
    names = {name: tuple(p.shape) for name, p in conv.named_parameters()}
    if names != {"weight": (3, 5), "bias": (5,)}:
        fail("Conv1D(nf=5, nx=3)", _("Conv1D's parameters are not GPT-2's"),
             _("expected weight (3, 5) — (nx, nf), in then out — and bias (5,), got {names}").format(
                 names=names or _("none")),
             _("note the argument order: Conv1D(nf, nx), outputs first"))
    w = conv.weight.detach()
    if not torch.equal(conv.bias.detach(), torch.zeros(5)):
        fail("Conv1D(5, 3)", _("Conv1D.bias must start at zeros"))
    big = kata.Conv1D(512, 256).weight.detach()
    if torch.all(w == 0) or not 0.015 < big.std().item() < 0.025 or abs(big.mean().item()) > 0.005:
        fail("Conv1D(512, 256)", _("Conv1D.weight should start as normal noise of std 0.02 "
             "(yours: mean {mean:.3g}, std {std:.3g})").format(mean=big.mean().item(), std=big.std().item()),
             "nn.init.normal_(self.weight, std=0.02)")


@pytest.mark.parametrize(("nf", "nx", "lead"), [  # square first: a transposed weight runs, and is named
    pytest.param(768, 768, (1, 3), id="square-768"),
    pytest.param(7, 7, (4,), id="square-7-2d"),
    pytest.param(2304, 768, (2, 5), id="c_attn-768"),
    pytest.param(13, 5, (2, 3, 4), id="13x5-4d"),
])
def test_conv1d(kata, device, seed, nf, nx, lead):
    case_seed = 1000 * seed + nf + nx
    case = _("Conv1D(nf={nf}, nx={nx}), x of shape {shape}").format(nf=nf, nx=nx, shape=(*lead, nx))
    ref = hf_conv1d(nf, nx, case_seed).to(device)
    conv = kata.Conv1D(nf, nx).to(device)
    expect_loadable(conv, ref.state_dict(), case=case, what="Conv1D")
    x = reference.randn(*lead, nx, seed=case_seed, device=device)
    w, b = ref.weight, ref.bias
    mistakes = [Mistake(_("weight used transposed"), _("GPT-2 stores the weight as (in, out): x @ weight, "
                        "no transpose (nn.Linear is the one that transposes)"), x @ w.T + b),
                Mistake(_("bias not added"), "forward(x) = x @ weight + bias", x @ w)] if nf == nx else [
                Mistake(_("bias not added"), "forward(x) = x @ weight + bias", x @ w)]
    with torch.no_grad():
        expect_close(conv(x), ref(x), case=case, what="Conv1D.forward", atol=ATOL, rtol=RTOL,
                     mistakes=mistakes)


def test_mlp_structure(kata):
    mlp = kata.MLP(8, dropout=0.25)
    for name, (nf, nx) in {"c_fc": (32, 8), "c_proj": (8, 32)}.items():
        sub = getattr(mlp, name, None)
        if not isinstance(sub, kata.Conv1D):
            fail("MLP(8, dropout=0.25)", _("MLP.{name} should be your Conv1D({nf}, {nx}), found {found}").format(
                name=name, nf=nf, nx=nx, found=type(sub).__name__ if sub is not None else _("nothing")))
    drop = getattr(mlp, "dropout", None)
    if not isinstance(drop, torch.nn.Dropout) or drop.p != 0.25:
        fail("MLP(8, dropout=0.25)", _("MLP.dropout should be nn.Dropout(0.25), with the p given to MLP"),
             _("found {drop}").format(drop=repr(drop)))


@pytest.mark.parametrize(("n_embd", "B", "T"), [
    pytest.param(768, 2, 5, id="C768-B2-T5"),
    pytest.param(64, 1, 1, id="C64-B1-T1"),
    pytest.param(36, 3, 17, id="C36-B3-T17"),
])
def test_mlp(kata, device, seed, n_embd, B, T):
    case_seed = 1000 * seed + n_embd
    case = _("MLP(n_embd={n_embd}), x of shape {shape}, eval()").format(n_embd=n_embd, shape=(B, T, n_embd))
    ref = reference.mlp(n_embd, case_seed).to(device)
    mlp = kata.MLP(n_embd).to(device).eval()
    expect_loadable(mlp, ref.state_dict(), case=case, what="MLP")
    x = reference.randn(B, T, n_embd, seed=case_seed, device=device)
    with torch.no_grad():
        h = x @ ref.c_fc.weight + ref.c_fc.bias
        mistakes = [Mistake(_("exact (erf) GELU"), _("use your tanh-form gelu, not F.gelu(x)"),
                            F.gelu(h) @ ref.c_proj.weight + ref.c_proj.bias),
                    Mistake(_("ReLU instead of GELU"), _("use your gelu from this exercise"),
                            F.relu(h) @ ref.c_proj.weight + ref.c_proj.bias),
                    Mistake(_("no activation"), _("apply gelu between c_fc and c_proj"),
                            h @ ref.c_proj.weight + ref.c_proj.bias)]
        got = expect_eval_deterministic(lambda: mlp(x), case=case, what="MLP.forward")
        expect_close(got, ref(x), case=case, what="MLP.forward", atol=ATOL, rtol=RTOL, mistakes=mistakes)


def test_mlp_dropout(kata, device, seed):
    """Training mode: about p of the outputs are zeroed and the rest scaled; eval(): no dropout."""
    p, n_embd = 0.5, 32
    case = _("MLP({n_embd}, dropout={p}), x of shape (4, 64, {n_embd})").format(n_embd=n_embd, p=p)
    ref = reference.mlp(n_embd, 1000 * seed + 5).to(device)
    mlp = kata.MLP(n_embd, dropout=p).to(device)
    expect_loadable(mlp, ref.state_dict(), case=case, what="MLP")
    x = reference.randn(4, 64, n_embd, seed=1000 * seed + 5, device=device)
    with torch.no_grad():
        mlp.train()
        first, second = mlp(x), mlp(x)
        if torch.equal(first, second):
            fail(case + ", train()", _("MLP in training mode gives the same output twice"),
                 _("MLP.forward must apply self.dropout to its output"))
        mlp.eval()
        evaluated = expect_eval_deterministic(lambda: mlp(x), case=case + ", eval()", what="MLP.forward")
        expect_close(evaluated, ref(x), case=case + ", eval()", what="MLP.forward", atol=ATOL, rtol=RTOL)
    expect_output_dropout(first, evaluated, p, case=case + ", train()", what="MLP.forward")
