"""Hidden suite for e08: the key/value cache. The cache itself; cached attention against transformers'
GPT2Attention run inside GPT2Model; cached logits against GPT2LMHeadModel on the whole sequence;
generate_cached against GPT2LMHeadModel.generate(use_cache=True) (greedy) and against the learner's
own e07 generate, without a cache, with a generator seeded alike (sampling: any sampler e07 accepts,
as long as both use it the same way); and the work each new token costs, counted in floating-point
operations (torch.utils.flop_counter), not timed.
"""

import math

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from gpt2lab import reference
from gpt2lab.i18n import N_, _
from gpt2lab.learner import describe, gpt2_like, sibling
from gpt2lab.verdict import Mistake, expect_close, expect_equal, expect_loadable, expect_tensor, fail

pytestmark = pytest.mark.kata("e08")

ATTN_ATOL, ATTN_RTOL = 2e-5, 1e-4  # as e04: one attention layer, sums in another order
ATOL, RTOL = 1e-4, 0.0  # as e06: logits are of order one (reference.lm_model)
TIE = 1e-4  # greedy: two logits closer than this are a tie that float32 rounding may decide

NOT_SHIFTED = N_("causal mask not shifted by the cache length")
TWICE = N_("keys and values appended twice")
NOT_KEPT = N_("the cache does not keep what update appends")
NO_PREFILL = N_("prompt not prefilled")
RESTART = N_("positions restart at 0 for each new token")


def ref_model(shape, seed, device):
    V, n_positions, C, n_head, n_layer = shape
    return reference.lm_model(C, n_head, n_positions, n_layer, V, seed).to(device)


def random_ids(V, B, T, seed, device):
    return torch.randint(0, V, (B, T), generator=reference.generator(seed)).to(device)


# ---------------------------------------------------------------------------------------------
# The cache


SIZES = (5, 1, 3)  # positions added by each call of update, per layer


def cache_mistakes(store, layer, n):
    """What a classic mistake returns from the (n + 1)-th update of `layer`; store[layer, i] holds the
    tensors given to the i-th update of each layer."""
    parts = [store[layer, i] for i in range(n + 1)]
    interleaved = [x for i in range(n + 1) for x in (store[0, i], store[1, i])]  # both layers in one list
    mistakes = [
        Mistake(_("new keys put before the old ones"), _("concatenate the old ones first: "
                "torch.cat([old, new], dim=2)"), torch.cat(parts[::-1], dim=2)),
        Mistake(_(TWICE), _("append the new positions once per update"), torch.cat([*parts, parts[-1]], dim=2)),
        Mistake(_(NOT_KEPT), _("store the concatenation in the cache: the next update must find it"),
                torch.cat([parts[0], parts[-1]], dim=2) if n else parts[0])]
    if layer == 1:
        mistakes.append(Mistake(_("layers share one cache"), _("keep one entry per layer ([None] * n_layer), "
                                "indexed by `layer`"), torch.cat(interleaved, dim=2)))
    return mistakes


def test_kv_cache(kata, device, seed):
    B, nh, hs = 2, 3, 4
    case = _("KVCache(n_layer=2), keys and values of shape ({B}, {nh}, T, {hs}) added {sizes} positions at a "
             "time").format(B=B, nh=nh, hs=hs, sizes=SIZES)
    draw = lambda T, s: reference.randn(B, nh, T, hs, seed=1000 * seed + s, device=device)  # noqa: E731
    k = {(layer, n): draw(T, 10 * layer + n) for layer in (0, 1) for n, T in enumerate(SIZES)}
    v = {(layer, n): draw(T, 100 + 10 * layer + n) for layer in (0, 1) for n, T in enumerate(SIZES)}
    cache = kata.KVCache(2)
    expect_length(cache, 0, case, _("a new cache"))
    for n in range(len(SIZES)):
        for layer in (0, 1):
            got = cache.update(layer, k[layer, n], v[layer, n])
            if not (isinstance(got, tuple) and len(got) == 2):
                fail(case, _("update returned a {kind}, expected a tuple (keys, values)").format(
                    kind=type(got).__name__), _("return every key and every value of the layer so far: return k, v"))
            where = _("{case}: update({layer}, ...) number {n}").format(case=case, layer=layer, n=n + 1)
            for what, store, tensor in ((N_("the keys update returns"), k, got[0]),
                                        (N_("the values update returns"), v, got[1])):
                expected = torch.cat([store[layer, i] for i in range(n + 1)], dim=2)
                mistakes = cache_mistakes(store, layer, n)
                name_resized_mistake(tensor, expected, mistakes, case=where, what=_(what))
                expect_equal(tensor, expected, case=where, what=_(what),
                             mistakes=mistakes, shape_hints=axis_hints(B, nh, hs))
            if layer == 0:
                expect_length(cache, sum(SIZES[:n + 1]), case, _("after update(0, ...) number {n}").format(n=n + 1),
                              before=sum(SIZES[:n]))


def name_resized_mistake(got, expected, mistakes, *, case, what):
    """A mistake that changes the number of positions fails on its shape before expect_equal could
    recognise its values: name it here."""
    for mistake in mistakes:
        resized = mistake.output.shape != expected.shape
        if resized and isinstance(got, torch.Tensor) and got.shape == mistake.output.shape \
                and torch.equal(got, mistake.output):
            fail(case, _("{what} has the wrong shape").format(what=what),
                 _("{shape}: the positions axis (dim 2) holds {count} positions").format(
                     shape=tuple(got.shape), count=got.size(2)),
                 _("this looks like a classic mistake: {name}").format(name=mistake.name),
                 _("hint: {hint}").format(hint=mistake.hint), diagnosis=mistake.name)


def axis_hints(B, nh, hs):
    return {(B, nh, hs): _("the positions axis disappeared: keep (B, nh, T, hs)")}


def expect_length(cache, expected, case, when, before=None):
    got = getattr(cache, "length", None)
    if callable(got):
        fail(case, _("KVCache.length is a method; the docstring makes it a property"),
             _("put @property above `def length(self)`, so that cache.length is a number"))
    if got != expected:
        kept = before is not None and got == before
        twice = before is not None and isinstance(got, int) and got - before == 2 * (expected - before)
        fail(case, _("cache.length is {got!r} {when}, expected {expected}").format(
            got=got, when=when, expected=expected),
             _("length is the number of positions layer 0 holds (0 for a new cache)"),
             _("it did not grow: update must store the concatenation in the cache") if kept else "",
             _("it grew twice as much as it should: append the new positions once") if twice else "",
             diagnosis=_(NOT_KEPT) if kept else _(TWICE) if twice else None)


# ---------------------------------------------------------------------------------------------
# Cached attention


def cached_attention(x, attn, n_head, sizes, *, mask="shifted", keep=True):
    """Attention run chunk by chunk over a cache, written out, with one classic mistake at a time."""
    B, _T, C = x.shape
    hs, start, past_k, past_v, out = C // n_head, 0, None, None, []
    for T in sizes:
        q, k, v = (x[:, start:start + T] @ attn.c_attn.weight + attn.c_attn.bias).split(C, dim=2)
        q, k, v = (t.view(B, T, n_head, hs).transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hs)
        if keep and past_k is not None:
            k, v = torch.cat([past_k, k], dim=2), torch.cat([past_v, v], dim=2)
        past_k, past_v, L = k, v, k.size(2)
        scores = q @ k.transpose(-2, -1) / math.sqrt(hs)  # (B, nh, T, L)
        diagonal = {"shifted": L - T + 1, "top": 1, "none": L}[mask]
        future = torch.ones(T, L, dtype=torch.bool, device=x.device).triu(diagonal)
        y = (scores.masked_fill(future, float("-inf")).softmax(-1) @ v).transpose(1, 2).reshape(B, T, C)
        out.append(y @ attn.c_proj.weight + attn.c_proj.bias)
        start += T
    return torch.cat(out, dim=1)


def attention_mistakes(x, attn, n_head, sizes):
    variant = lambda **flags: cached_attention(x, attn, n_head, sizes, **flags)  # noqa: E731
    return [
        Mistake(_(NOT_SHIFTED), _("the T new positions are the *last* T rows of the causal mask: new position i "
                "sits at L - T + i and sees the keys 0 .. L - T + i (L: cached + new); a one-token step "
                "sees every key"), variant(mask="top")),
        Mistake(_("no causal mask"), _("in the prefill (and any step of several tokens) a position must not see "
                "the positions after it: mask the scores with -inf before the softmax"), variant(mask="none")),
        Mistake(_("the cache is not used"), _("attend to every key the cache returns (cache.update gives the old "
                "and the new ones), not only to the new positions' keys"), variant(keep=False)),
    ]


ATTENTION = [  # n_embd, n_head, n_positions, B, chunk sizes: the prefill, then the steps
    pytest.param(768, 12, 64, 1, (6, 1, 1, 1), id="C768-nh12-prefill6-steps"),
    pytest.param(48, 3, 32, 2, (5, 1, 1, 1, 1), id="C48-nh3-B2-prefill5-steps"),
    pytest.param(32, 4, 32, 2, (4, 3, 1, 2), id="C32-nh4-chunks-after-prefill"),
    pytest.param(32, 2, 16, 1, (1, 1, 1, 1, 1, 1), id="C32-nh2-prefill1"),
]


@pytest.mark.parametrize(("n_embd", "n_head", "n_positions", "B", "sizes"), ATTENTION)
def test_attention_step(kata, device, seed, n_embd, n_head, n_positions, B, sizes):
    case_seed = 1000 * seed + n_embd + sum(sizes)
    case = _("attention_step(your CausalSelfAttention({n_embd}, {n_head}, {n_positions}), x, KVCache(1), "
             "layer=0, n_head={n_head}) on x of shape ({B}, {T}, {n_embd}) fed in chunks of "
             "{sizes} positions, seed {seed}").format(n_embd=n_embd, n_head=n_head, n_positions=n_positions, B=B,
                                                      T=sum(sizes), sizes=", ".join(map(str, sizes)), seed=case_seed)
    ref = reference.causal_attention(n_embd, n_head, n_positions, case_seed).to(device)
    attn = sibling(kata, "e04").CausalSelfAttention(n_embd, n_head, n_positions).to(device)
    expect_loadable(attn, ref.attn.state_dict(), case=case, what=_("your CausalSelfAttention (e04)"))
    attn.eval()
    x = reference.randn(B, sum(sizes), n_embd, seed=case_seed, device=device)
    expected = ref(x)  # (B, T, C): the attention over the whole sequence at once
    cache, outputs, start = kata.KVCache(1), [], 0
    with torch.no_grad():
        for T in sizes:
            # contiguous, as block.ln_1(x) is in forward_cached: a Conv1D may view its input, as
            # transformers' does (x.view(-1, nx)), and an e02 that passed is never sent back to
            y = kata.attention_step(attn, x[:, start:start + T].contiguous(), cache, 0, n_head)
            what = _("attention_step's output for the {T} positions after {start} cached").format(T=T, start=start)
            outputs.append(expect_tensor(y, expected[:, start:start + T], case=case, what=what))
            start += T
    expect_close(torch.cat(outputs, dim=1), expected, case=case, what=_("the attention of the new positions, "
                 "chunk after chunk"), atol=ATTN_ATOL, rtol=ATTN_RTOL,
                 mistakes=attention_mistakes(x, ref.attn, n_head, sizes))


# ---------------------------------------------------------------------------------------------
# Cached logits


@torch.no_grad()
def hf_logits(ref, idx, positions=None):
    """GPT2LMHeadModel on the whole sequence; `positions` replaces the position ids (a mistake)."""
    if positions is None:
        return ref(idx).logits
    return ref(idx, position_ids=positions.to(idx.device).expand(idx.size(0), -1)).logits


def step_positions(P, T, shift):
    """The positions a mistaken cache gives: the prompt 0..P-1, then each step token at `shift`(t)."""
    return torch.tensor([*range(P), *(shift(t) for t in range(P, T))])


SHAPES = [  # (vocab_size, n_positions, n_embd, n_head, n_layer), (B, prompt length, steps)
    pytest.param((97, 32, 32, 4, 2), (2, 5, 6), id="V97-L2-B2-prompt5"),
    pytest.param((50257, 64, 48, 3, 2), (1, 7, 4), id="V50257-L2-B1-prompt7"),
    pytest.param((64, 16, 24, 2, 3), (3, 1, 14), id="V64-L3-prompt1-to-n_positions-1"),
]


@pytest.mark.parametrize(("shape", "sizes"), SHAPES)
def test_forward_cached(kata, device, seed, shape, sizes):
    (B, P, S), case_seed = sizes, 1000 * seed + sum(shape)
    case = _("forward_cached({model}, ...): a prompt of shape ({B}, {P}) in one pass, then "
             "{S} tokens one by one, seed {seed}").format(model=describe(shape), B=B, P=P, S=S, seed=case_seed)
    ref = ref_model(shape, case_seed, device)
    model = gpt2_like(kata, ref, case).eval()
    idx = random_ids(shape[0], B, P + S, case_seed, device)
    expected = hf_logits(ref, idx)  # (B, P + S, V)
    cache, outputs = kata.KVCache(shape[4]), []
    with torch.no_grad():
        for start, end in [(0, P), *((t, t + 1) for t in range(P, P + S))]:
            logits = kata.forward_cached(model, idx[:, start:end].contiguous(), cache)
            outputs.append(expect_tensor(logits, expected[:, start:end], case=case,
                                         what=_("forward_cached's logits for tokens {start}..{end}").format(
                                             start=start, end=end - 1)))
            expect_length(cache, end, case, _("after forward_cached on tokens {start}..{end}").format(
                start=start, end=end - 1), before=start)
    got = torch.cat(outputs, dim=1)
    mistakes = [Mistake(_(RESTART), _("the new token sits at position "
                        "cache.length (read before the layers update the cache): wpe(past + arange(T))"),
                        hf_logits(ref, idx, step_positions(P, P + S, lambda t: 0)))]
    if P + S < shape[1]:
        mistakes.append(Mistake(_("position off by one"), _("the first new token after `past` cached ones sits "
                                "at position past, not past + 1"),
                                hf_logits(ref, idx, step_positions(P, P + S, lambda t: t + 1))))
    expect_close(got, expected, case=case, what=_("the logits of the prompt, then of each new token"),
                 atol=ATOL, rtol=RTOL, mistakes=mistakes)


# ---------------------------------------------------------------------------------------------
# Generation


def hf_generate_cached(ref, idx, max_new_tokens):
    """transformers' greedy decoding with its own cache; eos_token_id=None so that it neither stops
    at eos nor forbids it (min_new_tokens alone would mask eos, which changes the greedy choice)."""
    return ref.generate(idx, attention_mask=torch.ones_like(idx), do_sample=False, use_cache=True,
                        max_new_tokens=max_new_tokens, min_new_tokens=max_new_tokens,
                        eos_token_id=None, pad_token_id=0)


@torch.no_grad()
def greedy_without_cache(ref, idx, max_new_tokens, positions=None):
    """Greedy decoding on GPT2LMHeadModel's logits, the whole sequence again at every step;
    `positions(L)` replaces the position ids of a sequence of length L (a classic mistake)."""
    for _step in range(max_new_tokens):
        logits = hf_logits(ref, idx, None if positions is None else positions(idx.size(1)))[:, -1, :]
        idx = torch.cat([idx, logits.argmax(-1, keepdim=True)], dim=1)
    return idx


def check_tokens(got, expected, idx, case, *, mistakes=lambda: [], greedy_logits=None):
    """Equal tokens, or else an explanation; `mistakes()` runs the classic mistakes only then."""
    got = expect_tensor(got, expected, case=case, what=_("generate_cached's output"),
                        shape_hints={(expected.size(0), expected.size(1) - idx.size(1)):
                                     _("return idx followed by the new tokens, (B, T + max_new_tokens)")})
    if not torch.equal(got[:, :idx.size(1)], idx):
        fail(case, _("generate_cached's output does not start with idx"),
             _("return torch.cat([idx, new tokens], dim=1)"))
    if torch.equal(got, expected):
        return
    if greedy_logits is not None and is_greedy(got, idx.size(1), greedy_logits(got)):
        return  # it differs only where two logits tie within float32 rounding: still greedy
    T = idx.size(1)
    differ = (got != expected).any(dim=0).nonzero()
    step = int(differ[0]) - T
    mistakes = [m for m in mistakes() if not torch.equal(m.output, expected)]
    lines = [_("the first {step} new tokens agree; new token {number} (position {position}) differs "
               "in {rows} of {total} rows").format(step=step, number=step + 1, position=T + step,
                                                    rows=int((got[:, T + step] != expected[:, T + step]).sum()),
                                                    total=got.size(0))]
    for mistake in mistakes:
        if torch.equal(got, mistake.output):
            fail(case, _("generate_cached's tokens differ from GPT-2's"), *lines,
                 _("this looks like a classic mistake: {name}").format(name=mistake.name),
                 _("hint: {hint}").format(hint=mistake.hint), diagnosis=mistake.name)
    fail(case, _("generate_cached's tokens differ from GPT-2's"), *lines,
         _("check forward_cached first (its own check above), then the order of the passes: the prompt "
           "once, then each chosen token alone, with the same cache"))


def is_greedy(tokens, T, logits):
    """Every new token is the argmax of the reference's logits on what precedes it, up to a tie."""
    logits = logits[:, T - 1:-1, :]  # (B, new, V): the logits that choose each new token
    chosen = logits.gather(-1, tokens[:, T:, None]).squeeze(-1)
    return bool((chosen >= logits.max(-1).values - TIE).all())


GREEDY = [  # (vocab_size, n_positions, n_embd, n_head, n_layer), (B, T), max_new_tokens
    pytest.param((97, 64, 32, 4, 2), (2, 5), 24, id="V97-B2-T5-new24"),
    pytest.param((50257, 64, 48, 3, 2), (1, 3), 8, id="V50257-B1-T3-new8"),
    pytest.param((64, 16, 24, 2, 3), (2, 4), 12, id="V64-to-the-full-context"),
]


@pytest.mark.parametrize(("shape", "batch", "new"), GREEDY)
def test_generate_greedy(kata, device, seed, shape, batch, new):
    case_seed = 1000 * seed + sum(shape) + new
    case = _("generate_cached({model}, idx of shape {batch}, max_new_tokens={new}, "
             "temperature=0), seed {seed}").format(model=describe(shape), batch=batch, new=new, seed=case_seed)
    ref = ref_model(shape, case_seed, device)
    model = gpt2_like(kata, ref, case).eval()
    idx = random_ids(shape[0], *batch, case_seed, device)
    got = kata.generate_cached(model, idx, new, temperature=0.0)
    expected = hf_generate_cached(ref, idx, new)
    T = idx.size(1)

    def mistakes():
        restart = greedy_without_cache(ref, idx, new, positions=lambda L: step_positions(T, L, lambda t: 0))
        return [Mistake(_(NO_PREFILL), _("the first pass must read the whole prompt into the cache (the prefill); "
                        "only then feed one token at a time"),
                        torch.cat([idx[:, :-1], greedy_without_cache(ref, idx[:, -1:], new)], dim=1)),
                Mistake(_(RESTART), _("the new token sits at position "
                        "cache.length: pass wpe the positions past .. past + T - 1"), restart)]

    check_tokens(got, expected, idx, case, mistakes=mistakes,
                 greedy_logits=lambda tokens: hf_logits(ref, tokens))


SAMPLING = [(1.0, None, None), (0.8, 20, None), (0.7, 30, 0.8)]


@pytest.mark.parametrize(("temperature", "top_k", "top_p"), SAMPLING,
                         ids=[f"T{t}-k{k}-p{p}" for t, k, p in SAMPLING])
def test_generate_sampling(kata, device, seed, temperature, top_k, top_p):
    """Seeded sampling: the tokens of your e07 generate (no cache) on the same model and seed."""
    shape, (B, T), new = (97, 32, 32, 4, 2), (2, 4), 16
    case_seed = 1000 * seed + int(10 * temperature) + (top_k or 0)
    sampling = dict(temperature=temperature, top_k=top_k, top_p=top_p)
    case = _("generate_cached({model}, idx of shape ({B}, {T}), max_new_tokens={new}, "
             "temperature={temperature}, top_k={top_k}, top_p={top_p}, a generator seeded with {seed}) "
             "against your e07 generate with a generator seeded alike").format(
        model=describe(shape), B=B, T=T, new=new, temperature=temperature, top_k=top_k, top_p=top_p, seed=case_seed)
    ref = ref_model(shape, case_seed, device)
    model = gpt2_like(kata, ref, case).eval()
    idx = random_ids(shape[0], B, T, case_seed, device)
    generate = sibling(kata, "e07").generate
    seeded = lambda: torch.Generator(device=device).manual_seed(case_seed)  # noqa: E731
    expected = generate(model, idx, new, **sampling, generator=seeded())
    got = kata.generate_cached(model, idx, new, **sampling, generator=seeded())
    def mistakes():
        unprefilled = generate(model, idx[:, -1:], new, **sampling, generator=seeded())
        other_seed = torch.Generator(device=device).manual_seed(case_seed + 1)
        return [Mistake(_(NO_PREFILL), _("the first pass must read the whole prompt into the cache (the prefill)"),
                        torch.cat([idx[:, :-1], unprefilled], dim=1)),
                Mistake(_("generator not used"), _("pass `generator` on to the sampling, exactly as your e07 "
                        "generate does"), generate(model, idx, new, **sampling, generator=other_seed))]

    check_tokens(got, expected, idx, case, mistakes=mistakes)


def test_work_per_token(kata, device, seed):
    """Counted work, not time: FLOPs of generate_cached for 4, 8 and 12 new tokens."""
    shape, B, T = (97, 64, 32, 4, 2), 1, 4
    V, n_positions, C, n_head, n_layer = shape
    case = _("generate_cached({model}, idx of shape ({B}, {T}), max_new_tokens=4, 8, 12, "
             "temperature=0)").format(model=describe(shape), B=B, T=T)
    ref = ref_model(shape, 1000 * seed + 77, device)
    model = gpt2_like(kata, ref, case).eval()
    idx = random_ids(V, B, T, 1000 * seed + 77, device)
    fed = []  # how many positions h[0].attn.c_attn reads in each pass, when it is called as a module
    hook = model.h[0].attn.c_attn.register_forward_pre_hook(lambda module, args: fed.append(args[0].size(1)))
    flops = {}
    try:
        for new in (4, 8, 12):  # FlopCounterMode costs ~5 ms a token: few tokens, for watch mode
            fed.clear()
            with FlopCounterMode(display=False) as counter:
                kata.generate_cached(model, idx, new, temperature=0.0)
            flops[new] = counter.get_total_flops()
    finally:
        hook.remove()
    per_token = {(a, b): (flops[b] - flops[a]) / (b - a) for a, b in ((4, 8), (8, 12))}
    growth = (per_token[8, 12] - per_token[4, 8]) / 4  # more FLOPs per token for each position more
    attention = 4 * B * C * n_layer  # q @ k^T and weights @ v over one more cached position, per layer
    if growth > 2 * attention:
        fail(case, _("each new token costs more the longer the sequence: about {growth:,.0f} FLOPs more per "
                     "token for every position already generated").format(growth=growth),
             _("only the attention over the cache may grow, by "
               "{attention:,} FLOPs per position (4·B·C·n_layer); c_attn, c_proj, the MLP and lm_head must "
               "cost the same for every new token (about {per_token:,.0f} FLOPs per token here between "
               "4 and 8 new tokens)").format(attention=attention, per_token=per_token[4, 8]),
             _("positions h[0].attn.c_attn read in each pass (12 new tokens): {fed}").format(fed=fed) if fed else "",
             _("feed the model only the new token and reuse the cached keys and values: do not run the "
               "whole sequence again"), diagnosis=_("the whole sequence recomputed for each token"))


def test_context_limit(kata, device):
    shape = (64, 16, 24, 2, 3)
    case = _("generate_cached({model}, idx of shape (1, 10), max_new_tokens=9): 19 > n_positions=16").format(
        model=describe(shape))
    ref = ref_model(shape, 5, device)
    model = gpt2_like(kata, ref, case).eval()
    idx = random_ids(64, 1, 10, 5, device)
    try:
        kata.generate_cached(model, idx, 9, temperature=0.0)
    except ValueError as error:
        if "16" not in str(error):
            fail(case, _("the ValueError should say how many positions the cache holds (n_positions=16)"),
                 _("its message: {message}").format(message=str(error)[:300]))
        return
    except NotImplementedError:
        raise
    except Exception as error:  # noqa: BLE001
        fail(case, _("generate_cached raised {kind} ({error}) on a request that does not fit n_positions").format(
            kind=type(error).__name__, error=str(error)[:120]),
             _("check T + max_new_tokens first and raise ValueError naming n_positions"))
    fail(case, _("generate_cached accepted a request longer than n_positions"),
         _("raise ValueError when T + max_new_tokens > n_positions: there is no position embedding past it"))
