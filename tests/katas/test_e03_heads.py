"""Hidden suite for e03: split_heads / merge_heads, against the axis arithmetic GPT2Attention does."""

import pytest
from einops import rearrange

from gpt2lab import reference
from gpt2lab.i18n import _
from gpt2lab.verdict import Mistake, expect_equal, fail

pytestmark = pytest.mark.kata("e03")

SHAPES = [  # (B, T, C, n_head)
    pytest.param(2, 5, 768, 12, id="C768-nh12-B2-T5"),
    pytest.param(1, 1, 64, 4, id="C64-nh4-B1-T1"),
    pytest.param(3, 7, 36, 6, id="C36-nh6-B3-T7"),
    pytest.param(2, 9, 20, 1, id="C20-nh1"),
    pytest.param(1, 1024, 64, 8, id="C64-nh8-T1024"),
]


def split_hints(B, T, C, nh):
    hs = C // nh
    return {(B, T, nh, hs): _("the last axis is split, but the head axis must come before the "
                              "sequence axis: move it with transpose(1, 2)"),
            (B, nh, hs, T): _("the head-size and sequence axes are swapped"),
            (B, T, C): _("the heads are not split")}


@pytest.mark.parametrize(("B", "T", "C", "nh"), SHAPES)
def test_split_heads(kata, device, seed, B, T, C, nh):
    x = reference.randn(B, T, C, seed=1000 * seed + C, device=device)
    case = _("split_heads(x of shape {shape}, n_head={nh})").format(shape=(B, T, C), nh=nh)
    mistakes = [Mistake(_("reshape instead of transpose"), _("view(B, nh, T, hs) mixes tokens: view as "
                        "(B, T, nh, hs), then transpose(1, 2)"), x.reshape(B, nh, T, C // nh))]
    expect_equal(kata.split_heads(x, nh), rearrange(x, "b t (h d) -> b h t d", h=nh), case=case,
                 what="split_heads", mistakes=mistakes, shape_hints=split_hints(B, T, C, nh))


@pytest.mark.parametrize(("B", "T", "C", "nh"), SHAPES)
def test_merge_heads(kata, device, seed, B, T, C, nh):
    hs = C // nh
    x = reference.randn(B, nh, T, hs, seed=1000 * seed + C + 1, device=device)
    case = _("merge_heads(x of shape {shape})").format(shape=(B, nh, T, hs))
    mistakes = [Mistake(_("reshape instead of transpose"), _("move the head axis back next to head size "
                        "first (transpose(1, 2)), then reshape to (B, T, C)"), x.reshape(B, T, C))]
    hints = {(B, nh, T, hs): _("the heads are not merged"),
             (B, nh * T, hs): _("merged the wrong axes: head and head-size go together, (B, T, nh*hs)")}
    expect_equal(kata.merge_heads(x), rearrange(x, "b h t d -> b t (h d)"), case=case,
                 what="merge_heads", mistakes=mistakes, shape_hints=hints)


@pytest.mark.parametrize(("B", "T", "C", "nh"), SHAPES[:3])
def test_round_trip(kata, device, seed, B, T, C, nh):
    x = reference.randn(B, T, C, seed=1000 * seed + C + 2, device=device)
    expect_equal(kata.merge_heads(kata.split_heads(x, nh)), x, what="merge_heads(split_heads(x))",
                 case=_("x of shape {shape}, n_head={nh}").format(shape=(B, T, C), nh=nh))


def test_split_heads_of_a_split(kata, device, seed):
    """In e04, q, k and v come from c_attn(x).split(C, dim=2): views into (B, T, 3C), not contiguous."""
    B, T, C, nh = 2, 5, 48, 4
    qkv = reference.randn(B, T, 3 * C, seed=1000 * seed + 3, device=device)
    k = qkv.split(C, dim=2)[1]
    case = _("split_heads(k, n_head={nh}), k = qkv.split({C}, dim=2)[1] with qkv of shape {shape}: "
             "not contiguous, as in e04").format(nh=nh, C=C, shape=(B, T, 3 * C))
    try:
        got = kata.split_heads(k, nh)
    except RuntimeError as error:
        if "view" not in str(error):
            raise
        fail(case, _("split_heads raised RuntimeError on a tensor that is not contiguous: {error}").format(
                 error=str(error)[:120]),
             _("view only the last axis, x.view(B, T, n_head, C // n_head), which any slice of the last axis "
               "allows; or use reshape"))
    expect_equal(got, rearrange(k, "b t (h d) -> b h t d", h=nh), case=case, what="split_heads",
                 shape_hints=split_hints(B, T, C, nh))
