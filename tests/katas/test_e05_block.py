"""Hidden suite for e05: clones, and Block against transformers' GPT2Block run inside GPT2Model."""

import functools

import pytest
import torch
import torch.nn.functional as F

from gpt2lab import reference
from gpt2lab.i18n import N_, _
from gpt2lab.learner import sibling, torch_of
from gpt2lab.probes import expect_eval_deterministic
from gpt2lab.verdict import Mistake, expect_close, expect_loadable, fail

pytestmark = pytest.mark.kata("e05")

ATOL, RTOL = 2e-5, 1e-4  # as e04: matmuls, CPU vs CUDA summation order

CASES = [  # (n_embd, n_head, n_positions, eps, B, T)
    pytest.param(768, 12, 1024, 1e-5, 2, 7, id="C768-nh12-B2-T7"),
    pytest.param(64, 4, 32, 1e-5, 1, 1, id="C64-nh4-B1-T1"),
    pytest.param(48, 3, 16, 1e-5, 3, 16, id="C48-nh3-B3-T16-full-context"),
    pytest.param(40, 2, 24, 1e-3, 2, 11, id="C40-nh2-eps1e-3"),
]

SHARED = N_("shared parameters in clones")
POST_NORM = N_("post-norm instead of pre-norm")
NO_EPS = N_("eps not passed to the LayerNorms")
NO_MASK = N_("no causal mask")  # the names e04 gives these mistakes
MASK_AHEAD = N_("causal mask shifted by one")
MASK_AHEAD_HINT = N_("position t may see s = t but not s = t + 1: mask where s > t (torch.triu(..., diagonal=1)); "
                     "the block's attention is your CausalSelfAttention (e04)")
DEFAULT_EPS = 1e-5  # LayerNorm's default in e01, and GPT-2's


def block_mistakes(x, block, n_head):
    """The block's output with one classic mistake each, built from the reference's own layers."""
    attn = lambda h: reference.causal_attention_of(block.attn, h, n_head)  # noqa: E731
    ln_1, ln_2, mlp = block.ln_1, block.ln_2, block.mlp
    post = ln_1(x + attn(x))
    with_one_ln = x + attn(ln_1(x))
    seeing = lambda ahead: (lambda y: y + mlp(ln_2(y)))(  # noqa: E731
        x + reference.causal_attention_of(block.attn, ln_1(x), n_head, ahead=ahead))
    return [
        *eps_mistakes(x, attn, ln_1, ln_2, mlp),
        Mistake(_(POST_NORM), _("GPT-2 normalises the input of each sub-layer and adds "
                "the result to the unnormalised stream: x = x + attn(ln_1(x)), not x = ln_1(x + attn(x))"),
                ln_2(post + mlp(post))),
        Mistake(_("no residual connection around the attention"), _("add the attention's output to x: "
                "x = x + attn(ln_1(x))"), attn(ln_1(x)) + mlp(ln_2(attn(ln_1(x))))),
        Mistake(_("no residual connection around the MLP"), _("add the MLP's output to x: "
                "x = x + mlp(ln_2(x))"), mlp(ln_2(x + attn(ln_1(x))))),
        Mistake(_("no residual connections"), _("each sub-layer adds its output to x (x = x + ...), it "
                "does not replace x"), mlp(ln_2(attn(ln_1(x))))),
        Mistake(_("attention and MLP in parallel"), _("the MLP reads the stream *after* the attention "
                "has been added: x = x + attn(ln_1(x)) first, then x = x + mlp(ln_2(x))"),
                x + attn(ln_1(x)) + mlp(ln_2(x))),
        Mistake(_("ln_1 used before the MLP too"), _("ln_2 normalises the MLP's input; ln_1 the "
                "attention's"), with_one_ln + mlp(ln_1(with_one_ln))),
        Mistake(_("the MLP before the attention"), _("attention first, then the MLP"),
                (lambda y: y + attn(ln_1(y)))(x + mlp(ln_2(x)))),
        Mistake(_(NO_MASK), _("the block's attention must be causal, each position seeing only itself and "
                "earlier positions: use your CausalSelfAttention (e04), with its mask"), seeing(x.size(1))),
        Mistake(_(MASK_AHEAD), _(MASK_AHEAD_HINT), seeing(1)),
    ]


def eps_mistakes(x, attn, ln_1, ln_2, mlp):
    """A block whose LayerNorms (one or both) use the default eps instead of the one it was given."""
    if ln_1.eps == DEFAULT_EPS:
        return []
    default = lambda ln: lambda h: F.layer_norm(h, ln.normalized_shape, ln.weight, ln.bias, DEFAULT_EPS)  # noqa: E731
    hint = _("give the block's eps to both LayerNorms, LayerNorm(n_embd, eps=eps), and check that your "
             "LayerNorm (e01) uses the eps it is given")
    pairs = [(default(ln_1), default(ln_2)), (default(ln_1), ln_2), (ln_1, default(ln_2))]
    return [Mistake(_(NO_EPS), hint, (lambda y: y + mlp(n2(y)))(x + attn(n1(x)))) for n1, n2 in pairs]


def joined(names):
    """'a and b and c', in the learner's language."""
    return functools.reduce(lambda first, second: _("{first} and {second}").format(first=first, second=second),
                            names)


def build(kata, ref, case, *args, **kwargs):
    block = kata.Block(*args, **kwargs)
    expect_loadable(block, ref.block.state_dict(), case=case, what="Block")
    return block


def test_clones_are_independent(kata):
    case = "clones(nn.Linear(3, 4), 3)"
    original = torch_of(kata).nn.Linear(3, 4)  # made where the learner's code runs
    copies = kata.clones(original, 3)
    if not isinstance(copies, torch.nn.ModuleList) or len(copies) != 3:
        kind = type(copies).__name__
        if hasattr(copies, "__len__"):
            got = _("clones must return an nn.ModuleList of 3 modules, got {kind} of length {n}").format(
                kind=kind, n=len(copies))
        else:
            got = _("clones must return an nn.ModuleList of 3 modules, got {kind}").format(kind=kind)
        fail(case, got,
             _("nn.ModuleList registers the copies, so that .to(), .parameters() and state_dict() see them"))
    for i, module in enumerate(copies):
        if not isinstance(module, torch.nn.Linear) or not torch.equal(module.weight, original.weight):
            fail(case, _("copy {i} is not a copy of the module given: it must start with the same values").format(i=i),
                 _("copy.deepcopy(module) copies the module with its parameters"))
    owners = {}
    for i, module in enumerate([original, *copies]):
        for p in module.parameters():
            owners.setdefault(id(p), []).append(_("the original") if i == 0 else _("copy {i}").format(i=i - 1))
    shared = [names for names in owners.values() if len(names) > 1]
    if shared:
        fail(case, _("parameters are shared between {names}").format(names=joined(shared[0])),
             _("the copies must be independent: `[module] * n` or appending the same module gives n "
               "names for one module; use copy.deepcopy(module) for each copy"),
             diagnosis=_(SHARED))
    others = {_("the original"): original, _("copy {i}").format(i=0): copies[0], _("copy {i}").format(i=2): copies[2]}
    before = {name: module.weight.detach().clone() for name, module in others.items()}
    with torch.no_grad():
        copies[1].weight.add_(1.0)
    changed = [name for name, module in others.items() if not torch.equal(module.weight, before[name])]
    if changed:
        fail(case, _("changing copy 1 changed {names}").format(names=", ".join(changed)),
             _("use copy.deepcopy(module)"), diagnosis=_(SHARED))


def test_clones_of_a_block(kata):
    """Blocks cloned for a model: n of them, each loadable with its own weights."""
    case = "clones(Block(32, 4, 16), 2)"
    blocks = kata.clones(kata.Block(32, 4, 16), 2)
    refs = [reference.causal_block(32, 4, 16, 1e-5, seed) for seed in (11, 12)]
    for block, ref in zip(blocks, refs):
        expect_loadable(block, ref.block.state_dict(), case=case, what="a cloned Block")
    x = reference.randn(1, 5, 32, seed=13)
    with torch.no_grad():
        for i, (block, ref) in enumerate(zip(blocks, refs)):
            shared = [Mistake(_(SHARED), _("the clones share their parameters, so the last weights loaded "
                              "win; use copy.deepcopy(module) for each copy"), refs[-1](x))] if i == 0 else []
            # the block's own mistakes too: a post-norm Block fails here first, and is named here
            expect_close(block.eval()(x), ref(x),
                         case=_("{case}, block {i} loaded with its own weights").format(case=case, i=i),
                         what=_("block {i}'s output").format(i=i), atol=ATOL, rtol=RTOL,
                         mistakes=[*shared, *block_mistakes(x, ref.block, 4)])


def test_structure(kata):
    case = "Block(48, 3, 16, dropout=0.25)"
    block = kata.Block(48, 3, 16, dropout=0.25)
    own = {"ln_1": (sibling(kata, "e01").LayerNorm, "e01"), "attn": (sibling(kata, "e04").CausalSelfAttention, "e04"),
           "ln_2": (sibling(kata, "e01").LayerNorm, "e01"), "mlp": (sibling(kata, "e02").MLP, "e02")}
    for name, (cls, exercise) in own.items():
        sub = getattr(block, name, None)
        if not isinstance(sub, cls):
            fail(case, _("Block.{name} should be your {cls} from {exercise}, found {found}").format(
                     name=name, cls=cls.__name__, exercise=exercise,
                     found=type(sub).__name__ if sub is not None else _("nothing")),
                 _("import it relatively, as the top of the file does"))
    if block.ln_1 is block.ln_2:
        fail(case, _("Block.ln_1 and Block.ln_2 are the same module"), _("create two LayerNorms"))
    ref = reference.causal_block(48, 3, 16, 1e-5, 1)
    expect_loadable(block, ref.block.state_dict(), case=case, what="Block")


@pytest.mark.parametrize(("n_embd", "n_head", "n_positions", "eps", "B", "T"), CASES)
def test_forward(kata, device, seed, n_embd, n_head, n_positions, eps, B, T):
    case_seed = 1000 * seed + n_embd + T
    case = _("Block(n_embd={n_embd}, n_head={n_head}, n_positions={n_positions}, eps={eps}), "
             "x of shape {shape}, seed {seed}").format(n_embd=n_embd, n_head=n_head, n_positions=n_positions,
                                                       eps=eps, shape=(B, T, n_embd), seed=case_seed)
    ref = reference.causal_block(n_embd, n_head, n_positions, eps, case_seed).to(device)
    block = build(kata, ref, case, n_embd, n_head, n_positions, eps=eps).to(device).eval()
    x = reference.randn(B, T, n_embd, seed=case_seed, device=device)
    with torch.no_grad():
        got = expect_eval_deterministic(lambda: block(x), case=case, what="Block.forward")
        expect_close(got, ref(x), case=case, what="Block.forward", atol=ATOL, rtol=RTOL,
                     mistakes=block_mistakes(x, ref.block, n_head))


def test_future_tokens_do_not_leak(kata, device, seed):
    """Replacing the last token by another random one must not change any earlier output. (Adding a
    constant to all its channels would not do: ln_1 erases it, and a block that looks ahead passed.)"""
    case = _("Block(32, 4, 16), x of shape (2, 10, 32), last token changed")
    case_seed = 1000 * seed + 7
    ref = reference.causal_block(32, 4, 16, 1e-5, case_seed).to(device)
    block = build(kata, ref, case, 32, 4, 16).to(device).eval()
    g = reference.generator(case_seed)
    x = torch.randn(2, 10, 32, generator=g)  # drawn on the CPU, as reference.randn draws
    changed = x.clone()
    changed[:, -1] = torch.randn(2, 32, generator=g)  # a new last token, unlike the old in every channel
    x, changed = x.to(device), changed.to(device)
    with torch.no_grad():
        leaks = (block(x)[:, :-1] - block(changed)[:, :-1]).abs().amax(dim=(0, 2))  # per earlier position
    leak = leaks.max().item()
    if leak > 1e-5:
        one_ahead = leaks[:-1].max().item() <= 1e-5  # only the position just before the last one changed
        fail(case, _("outputs at earlier positions changed by up to {leak:.2e} when only the last "
             "token changed").format(leak=leak),
             _(MASK_AHEAD_HINT) if one_ahead else _("a block must stay causal: use your CausalSelfAttention, "
                                                   "and no layer that mixes positions (a LayerNorm over the "
                                                   "sequence axis would)"),
             diagnosis=_(MASK_AHEAD) if one_ahead else None)


def test_dropout(kata, device, seed):
    """eval(): no dropout. train(): dropout inside the attention and the MLP, none on the stream."""
    p, n_embd = 0.5, 32
    case = _("Block({n_embd}, 4, 16, dropout={p}), x of shape (4, 12, {n_embd})").format(n_embd=n_embd, p=p)
    ref = reference.causal_block(n_embd, 4, 16, 1e-5, 1000 * seed + 9).to(device)
    block = build(kata, ref, case, n_embd, 4, 16, dropout=p).to(device)
    x = reference.randn(4, 12, n_embd, seed=1000 * seed + 9, device=device)
    with torch.no_grad():
        block.eval()
        evaluated = expect_eval_deterministic(lambda: block(x), case=case + ", eval()", what="Block")
        expect_close(evaluated, ref(x), case=case + ", eval()", what="Block.forward", atol=ATOL, rtol=RTOL,
                     mistakes=block_mistakes(x, ref.block, 4))

        block.train()
        caught = {}
        hooks = [getattr(block, name).register_forward_hook(
            lambda module, args, out, name=name: caught.__setitem__(name, out)) for name in ("attn", "mlp")]
        try:
            train = block(x)
        finally:
            for hook in hooks:
                hook.remove()
    if set(caught) != {"attn", "mlp"}:
        fail(case + ", train()", _("Block.forward did not call {names}").format(
            names=joined({"attn", "mlp"} - set(caught))))
    stream = x + caught["attn"] + caught["mlp"]
    if not torch.allclose(train, stream, atol=1e-5, rtol=1e-5):
        fail(case + ", train()", _("in training mode the block's output is not x + attn(...) + mlp(...)"),
             _("the block adds no dropout of its own: the dropouts are inside the attention and the MLP "
               "(give them the dropout probability); the residual stream is never dropped"))
    for name in ("attn", "mlp"):
        zeroed = (caught[name] == 0).float().mean().item()
        if abs(zeroed - p) > 0.1:
            fail(case + ", train()", _("in training mode, {zeroed:.0f}% of Block.{name}'s output is "
                 "zeroed, expected about {expected:.0f}% (its output dropout, p={p})").format(
                     zeroed=100 * zeroed, name=name, expected=100 * p, p=p),
                 _("give the block's dropout to CausalSelfAttention (attn_dropout and resid_dropout)")
                 if name == "attn" else _("give the block's dropout to MLP"))
