"""Hidden suite for e01: LayerNorm against torch's nn.LayerNorm, which GPT-2's ln_1/ln_2/ln_f are."""

import pytest
import torch

from gpt2lab import reference
from gpt2lab.i18n import _
from gpt2lab.learner import learner_side
from gpt2lab.verdict import Mistake, expect_close, expect_loadable, fail

pytestmark = pytest.mark.kata("e01")

ATOL, RTOL = 1e-5, 1e-5

# (shape of x, std of x, mean of x, eps): GPT-2 124M's 768, odd sizes, 2-D and 4-D inputs,
# tiny variances where the place of eps matters, and a non-default eps.
CASES = [
    pytest.param((2, 7, 768), 1.0, 0.0, 1e-5, id="C768-B2-T7"),
    pytest.param((1, 1, 768), 3.0, 5.0, 1e-5, id="C768-B1-T1-offset"),
    pytest.param((3, 5, 13), 1.0, 0.0, 1e-5, id="C13-B3-T5"),
    pytest.param((4, 64), 2e-3, 0.0, 1e-5, id="C64-2d-small-variance"),
    pytest.param((2, 3, 4, 40), 1e-3, 0.0, 1e-5, id="C40-4d-small-variance"),
    pytest.param((2, 9, 96), 0.05, 0.0, 1e-3, id="C96-eps1e-3"),
]


def mistakes(x, ln):
    w, b, eps = ln.weight, ln.bias, ln.eps
    mean = x.mean(-1, keepdim=True)
    var = x.var(-1, keepdim=True, unbiased=False)
    return [
        Mistake(_("unbiased variance"), _("GPT-2 divides by C, not C - 1: use var(..., unbiased=False) "
                "(or correction=0), or ((x - mean) ** 2).mean(-1)"),
                (x - mean) / torch.sqrt(x.var(-1, keepdim=True) + eps) * w + b),
        Mistake(_("eps outside the square root"), _("add eps to the variance, then take the root: "
                "sqrt(var + eps), not sqrt(var) + eps"),
                (x - mean) / (torch.sqrt(var) + eps) * w + b),
        Mistake(_("eps ignored"), _("use the eps given to the constructor, inside the root"),
                (x - mean) / torch.sqrt(var + 1e-5) * w + b),
        Mistake(_("gain and bias not applied"), _("finish with x_hat * weight + bias"),
                (x - mean) / torch.sqrt(var + eps)),
    ]


def test_parameters(kata):
    ln = kata.LayerNorm(11)
    names = {name: tuple(p.shape) for name, p in ln.named_parameters()}
    if names != {"weight": (11,), "bias": (11,)}:
        fail("LayerNorm(11)", _("LayerNorm's learnable parameters are not GPT-2's"),
             _("expected weight (11,) and bias (11,), got {names}").format(names=names or _("no parameters")),
             _("create them with nn.Parameter so that they are learnt and saved"))
    if not (torch.equal(ln.weight.detach(), torch.ones(11)) and torch.equal(ln.bias.detach(), torch.zeros(11))):
        fail("LayerNorm(11)", _("a new LayerNorm must start as the identity map"),
             _("initialise weight with ones and bias with zeros"))


def test_default_eps(kata, device):
    """Called without eps, the layer must use 1e-5, as GPT-2 does."""
    x = reference.randn(2, 3, 32, seed=7, std=1e-3, device=device)
    ref = reference.layer_norm(32, 1e-5, 7).to(device)
    ln = kata.LayerNorm(32).to(device)
    expect_loadable(ln, ref.state_dict(), case="LayerNorm(32)", what="LayerNorm")
    with torch.no_grad():
        expect_close(ln(x), ref(x), case=_("LayerNorm(32), default eps, x of std 1e-3"),
                     what="LayerNorm.forward", atol=ATOL, rtol=RTOL, mistakes=mistakes(x, ref))


@pytest.mark.parametrize("s", [1, 2])
@pytest.mark.parametrize(("shape", "std", "mean", "eps"), CASES)
def test_forward(kata, device, seed, s, shape, std, mean, eps):
    case_seed = 1000 * seed + s
    case = _("x of shape {shape}, std {std}, mean {mean}, eps {eps}, seed {seed}").format(
        shape=shape, std=std, mean=mean, eps=eps, seed=case_seed)
    x = reference.randn(*shape, seed=case_seed, std=std, mean=mean, device=device)
    ref = reference.layer_norm(shape[-1], eps, case_seed).to(device)
    ln = kata.LayerNorm(shape[-1], eps=eps).to(device)
    expect_loadable(ln, ref.state_dict(), case=case, what="LayerNorm")
    with torch.no_grad():
        expect_close(ln(x), ref(x), case=case, what="LayerNorm.forward", atol=ATOL, rtol=RTOL,
                     mistakes=mistakes(x, ref))


def test_gradients_flow(kata, device):
    """weight and bias must be trainable: their gradients must equal the reference's."""
    x = reference.randn(2, 5, 24, seed=3, device=device)
    ref = reference.layer_norm(24, 1e-5, 3).to(device)
    ln = kata.LayerNorm(24).to(device)
    expect_loadable(ln, ref.state_dict(), case="LayerNorm(24)", what="LayerNorm")
    ref_copy = torch.nn.LayerNorm(24).to(device)
    ref_copy.load_state_dict(ref.state_dict())
    case = _("LayerNorm(24), loss = sum(y**2)")
    grads = learner_side(kata).sum_of_squares_grads(ln, x, ["weight", "bias"])
    (ref_copy(x) ** 2).sum().backward()
    for name in ("weight", "bias"):
        grad = grads[name]
        if grad is None:
            fail(case, _("LayerNorm.{name} gets no gradient").format(name=name),
                 _("use the parameter itself in forward (no .detach(), no .data, no torch.no_grad())"))
        expect_close(grad, getattr(ref_copy, name).grad, case=case,
                     what=_("the gradient of LayerNorm.{name}").format(name=name), atol=1e-4, rtol=1e-4)
