"""Hidden suite for e04: CausalSelfAttention against transformers' GPT2Attention run inside GPT2Model."""

import pytest
import torch

from gpt2lab import reference
from gpt2lab.i18n import _
from gpt2lab.learner import sibling
from gpt2lab.probes import expect_dropout_unbiased, expect_eval_deterministic, expect_output_dropout
from gpt2lab.verdict import Mistake, expect_close, expect_loadable, fail

pytestmark = pytest.mark.kata("e04")

ATOL, RTOL = 2e-5, 1e-4

CASES = [  # (n_embd, n_head, n_positions, B, T)
    pytest.param(768, 12, 1024, 2, 9, id="C768-nh12-B2-T9"),
    pytest.param(768, 12, 1024, 1, 1024, id="C768-nh12-T1024-full-context"),
    pytest.param(64, 4, 64, 1, 1, id="C64-nh4-B1-T1"),
    pytest.param(48, 3, 16, 3, 11, id="C48-nh3-B3-T11"),
    pytest.param(64, 4, 32, 2, 32, id="C64-nh4-T32-full-context"),
    pytest.param(40, 1, 8, 2, 6, id="C40-nh1"),
]


def attention(x, attn, n_head, *, causal=True, mask_after=False, scale="sqrt", softmax_dim=-1,
              split="transpose", offset=0):
    """The attention computation with one classic mistake switched on at a time."""
    B, T, C = x.shape
    hs = C // n_head
    q, k, v = (x @ attn.c_attn.weight + attn.c_attn.bias).split(C, dim=2)
    if split == "transpose":
        q, k, v = (t.view(B, T, n_head, hs).transpose(1, 2) for t in (q, k, v))
    else:
        q, k, v = (t.reshape(B, n_head, T, hs) for t in (q, k, v))
    scores = q @ k.transpose(-2, -1) * {"sqrt": hs**-0.5, "d": 1 / hs, "none": 1.0, "C": C**-0.5}[scale]
    future = torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1 + offset)
    if causal and not mask_after:
        scores = scores.masked_fill(future, float("-inf"))
    weights = torch.softmax(scores, dim=softmax_dim)
    if causal and mask_after:
        weights = weights.masked_fill(future, 0.0)
    y = (weights @ v).transpose(1, 2).reshape(B, T, C)
    return y @ attn.c_proj.weight + attn.c_proj.bias


def mistakes(x, attn, n_head):
    """A generator: the variants are computed only when the output is wrong."""
    variant = lambda **flags: attention(x, attn, n_head, **flags)  # noqa: E731
    yield from [
        Mistake(_("no causal mask"), _("each position must only see itself and earlier positions: set "
                "scores[..., t, s] = -inf where s > t, before the softmax"), variant(causal=False)),
        Mistake(_("mask applied after the softmax"), _("mask the scores with -inf *before* the softmax, so "
                "that each row of weights still sums to one"), variant(mask_after=True)),
        Mistake(_("scores divided by hs instead of sqrt(hs)"), _("scale by 1 / sqrt(head size)"),
                variant(scale="d")),
        Mistake(_("scores not scaled"), _("divide q @ k^T by sqrt(head size)"), variant(scale="none")),
        Mistake(_("scores divided by sqrt(C) instead of sqrt(hs)"), _("scale by 1 / sqrt(head size), "
                "head size = C // n_head, not by 1 / sqrt(C)"), variant(scale="C")),
        Mistake(_("softmax over the wrong axis"), _("the softmax runs over the keys: dim=-1"),
                variant(softmax_dim=-2)),
        Mistake(_("heads split with reshape instead of transpose"), _("split_heads must view as (B, T, nh, hs) "
                "and then transpose; check e03"), variant(split="reshape")),
        Mistake(_("causal mask shifted by one"), _("position t may see s = t but not s = t + 1: "
                "mask where s > t (torch.triu(..., diagonal=1))"), variant(offset=1)),
    ]


def build(kata, ref, case, *args, **kwargs):
    attn = kata.CausalSelfAttention(*args, **kwargs)
    expect_loadable(attn, ref.attn.state_dict(), case=case, what="CausalSelfAttention")
    return attn


def test_structure(kata):
    case = "CausalSelfAttention(n_embd=12, n_head=3, n_positions=8)"
    attn = kata.CausalSelfAttention(12, 3, 8)
    conv1d = sibling(kata, "e02").Conv1D
    for name in ("c_attn", "c_proj"):
        if not isinstance(getattr(attn, name, None), conv1d):
            fail(case, _("CausalSelfAttention.{name} should be your Conv1D from e02").format(name=name),
                 _("from .e02_mlp import Conv1D is at the top of the file"))
    params = {name: tuple(p.shape) for name, p in attn.named_parameters()}
    expected = {"c_attn.weight": (12, 36), "c_attn.bias": (36,), "c_proj.weight": (12, 12), "c_proj.bias": (12,)}
    if params != expected:
        fail(case, _("CausalSelfAttention's learnable parameters are not GPT-2's"),
             _("expected {expected}").format(expected=expected), _("got      {params}").format(params=params),
             _("a mask is not learnt: register it with register_buffer(..., persistent=False)"))


@pytest.mark.parametrize(("n_embd", "n_head", "n_positions", "B", "T"), CASES)
def test_forward(kata, device, seed, n_embd, n_head, n_positions, B, T):
    case_seed = 1000 * seed + n_embd + T
    case = _("CausalSelfAttention(n_embd={n_embd}, n_head={n_head}, n_positions={n_positions}), "
             "x of shape {shape}, seed {seed}").format(n_embd=n_embd, n_head=n_head, n_positions=n_positions,
                                                       shape=(B, T, n_embd), seed=case_seed)
    ref = reference.causal_attention(n_embd, n_head, n_positions, case_seed).to(device)
    attn = build(kata, ref, case, n_embd, n_head, n_positions).to(device).eval()
    x = reference.randn(B, T, n_embd, seed=case_seed, device=device)
    with torch.no_grad():
        # eval() determinism is checked with dropout on, in test_dropout. Classic mistakes are
        # recognised on the shorter sequences (the 1,024-token case would take a second more).
        expect_close(attn(x), ref(x), case=case, what="CausalSelfAttention.forward", atol=ATOL, rtol=RTOL,
                     mistakes=mistakes(x, ref.attn, n_head) if 1 < T <= 64 else (),
                     shape_hints={(B, n_head, T, n_embd // n_head): _("the heads are not merged back: "
                                                                      "merge_heads before c_proj")})


def test_future_tokens_do_not_leak(kata, device, seed):
    """Changing the last token must not change any earlier output."""
    case = _("CausalSelfAttention(32, 4, 16), x of shape (2, 10, 32), last token changed")
    ref = reference.causal_attention(32, 4, 16, 1000 * seed + 7).to(device)
    attn = build(kata, ref, case, 32, 4, 16).to(device).eval()
    x = reference.randn(2, 10, 32, seed=1000 * seed + 7, device=device)
    changed = x.clone()
    changed[:, -1] += 10.0
    with torch.no_grad():
        before, after = attn(x), attn(changed)
    leak = (before[:, :-1] - after[:, :-1]).abs().max().item()
    if leak > 1e-5:
        fail(case, _("outputs at earlier positions changed by up to {leak:.2e} when only the last "
             "token changed").format(leak=leak),
             _("the causal mask is missing or wrong: position t must not see s > t"))


def test_dropout(kata, device, seed):
    """attn_dropout on the weights (random, right on average), resid_dropout on the output."""
    n_embd, n_head, T = 32, 4, 12
    ref = reference.causal_attention(n_embd, n_head, 16, 1000 * seed + 9).to(device)
    x = reference.randn(2, T, n_embd, seed=1000 * seed + 9, device=device)
    with torch.no_grad():
        expected = ref(x)

    case = _("CausalSelfAttention(32, 4, 16, attn_dropout=0.3), x of shape (2, 12, 32)")
    attn = build(kata, ref, case, n_embd, n_head, 16, attn_dropout=0.3).to(device)
    attn.eval()
    evaluated = expect_eval_deterministic(lambda: attn(x), case=case + ", eval()", what="CausalSelfAttention")
    expect_close(evaluated, expected, case=case + ", eval()", what="CausalSelfAttention.forward",
                 atol=ATOL, rtol=RTOL)
    attn.train()
    expect_dropout_unbiased(lambda: attn(x), expected, samples=400, case=case + ", train()",
                            what=_("CausalSelfAttention with attn_dropout=0.3"))

    case = _("CausalSelfAttention(32, 4, 16, resid_dropout=0.5), x of shape (2, 12, 32)")
    attn = build(kata, ref, case, n_embd, n_head, 16, resid_dropout=0.5).to(device).train()
    with torch.no_grad():
        train = attn(x)
    expect_output_dropout(train, expected, 0.5, case=case + ", train()",
                          what=_("CausalSelfAttention with resid_dropout=0.5"))
