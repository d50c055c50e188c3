"""Hidden suite for e07: the filters against transformers' TopKLogitsWarper / TopPLogitsWarper,
greedy tokens against GPT2LMHeadModel.generate, sampling against the exact distribution."""

import functools
from types import SimpleNamespace

import pytest
import torch

from gpt2lab import hub, reference
from gpt2lab.i18n import N_, _
from gpt2lab.learner import sibling
from gpt2lab.teacher import proxies, remote
from gpt2lab.tokenizer import gpt2_tokenizer
from gpt2lab.verdict import KataFailure, Mistake, expect_close, expect_equal, expect_tensor, fail

pytestmark = pytest.mark.kata("e07")

NO_CROPPING = N_("no context cropping")
PROMPT = "Hello, I'm a language model,"


def explained(check, mistakes):
    """check(mistakes) raises KataFailure on a mismatch; the classic mistakes, which cost a model
    run or a sort each, are computed only then, to name the one the learner made."""
    try:
        check(())
    except KataFailure:
        check(mistakes())


# ---------------------------------------------------------------------------------------------
# The filters


def hf_top_k(logits, k):
    from transformers.generation.logits_process import TopKLogitsWarper

    return TopKLogitsWarper(top_k=k)(None, logits)


def hf_top_p(logits, p):
    from transformers.generation.logits_process import TopPLogitsWarper

    return TopPLogitsWarper(top_p=p)(None, logits)


def kept(filtered):
    return (filtered != float("-inf")).float()  # 1 = kept, 0 = removed


def top_k_mistakes(logits, k):
    V = logits.size(-1)
    values, indices = logits.topk(min(k, V), -1)
    mistakes = [Mistake(_("one token too few"), _("keep every logit >= the k-th largest: remove only those "
                                                  "strictly below it"), (logits > values[..., -1:]).float())]
    if k < V:
        mistakes.insert(0, Mistake(_("one token too many"), _(
            "the k-th largest is topk(logits, k).values[..., -1] (index k - 1 of a row sorted in decreasing order, "
            "not k)"),
                                   (logits >= logits.topk(k + 1, -1).values[..., -1:]).float()))
    mistakes.append(Mistake(_("ties with the k-th largest removed"), _(
        "Hugging Face keeps every logit equal to the k-th largest: remove only those strictly below it"),
                            torch.zeros_like(logits).scatter(-1, indices, 1.0)))
    return mistakes


def sorted_rule(logits, keep, descending=True):
    """Which tokens a rule on the sorted probabilities keeps, back in vocabulary order (1 / 0).

    keep(sorted_probs, mass_above) -> bool mask, where mass_above is the probability of the tokens
    ranked before each one.
    """
    sorted_probs, order = logits.double().softmax(-1).sort(-1, descending=descending)
    mask = keep(sorted_probs, sorted_probs.cumsum(-1) - sorted_probs)
    return torch.zeros_like(logits).scatter(-1, order, mask.to(logits.dtype))


def top_p_mistakes(logits, p):
    def correct(probs, above):
        return (above < p) | (torch.arange(probs.size(-1), device=probs.device) == 0)

    def one_past(probs, above):
        keep = correct(probs, above)
        keep[..., 1:] |= keep[..., :-1].clone()
        return keep

    return [
        Mistake(_("the token that crosses p removed"), _("keep a token when the tokens ranked *above* it hold "
                "less than p; a cumulative sum that includes the token itself must be shifted by one"),
                sorted_rule(logits, lambda probs, above: correct(probs, above + probs))),
        Mistake(_("the most likely token removed"), _("the most likely token is always kept, even when p is "
                "smaller than its probability (Hugging Face's min_tokens_to_keep=1)"),
                sorted_rule(logits, lambda probs, above: above < p)),
        Mistake(_("one token past p kept"), _("stop at the token that crosses p: keep a token only when the "
                "mass ranked above it is < p"), sorted_rule(logits, one_past)),
        Mistake(_("the least likely tokens kept"), _("sort from the most to the least likely (descending=True)"),
                sorted_rule(logits, correct, descending=False)),
    ]


def boundaries(logits):
    """For every group of equal probabilities in every row: the range of "mass above" its members
    can have (any order of the tied tokens)."""
    intervals = []
    for row in logits.double().cpu():
        values, counts = torch.unique(row.softmax(-1), sorted=True, return_counts=True)
        values, counts = values.flip(0), counts.flip(0)  # most likely first
        first = (values * counts).cumsum(0) - values * counts
        intervals += zip(first.tolist(), (first + values * (counts - 1)).tolist())
    return intervals


def safe_p(logits, p, margin=1e-4):
    """p, or the nearest value that no token's "mass above" comes within `margin` of.

    Near such a boundary, float32 rounding (or the order of tied tokens) decides whether a token is
    kept, and a correct implementation could disagree with Hugging Face's by one token. p = 0 is
    kept as it is: only the most likely token survives (the logits there have no tie at the top).
    """
    if p == 0.0:
        return p
    merged = []
    for low, high in sorted(boundaries(logits)):
        if merged and low - margin <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], high + margin)
        else:
            merged.append([low - margin, high + margin])
    if not any(low <= p <= high for low, high in merged):
        return p
    gaps = [(a[1], b[0]) for a, b in zip(merged, [*merged[1:], [1.0, 1.0]]) if a[1] < b[0]]
    return min(((a + b) / 2 for a, b in gaps), key=lambda x: abs(x - p))


@functools.lru_cache(maxsize=32)
def filter_case(kind, seed, device, k=None, p=None):
    """(logits, p made safe, Hugging Face's filtered logits): the same for every implementation."""
    logits = filter_logits(kind, seed, device)
    if k is not None:
        return logits, None, hf_top_k(logits, k)
    p = safe_p(logits, p)
    return logits, p, hf_top_p(logits, p)


def filter_logits(kind, seed, device):
    """Random logits of one kind: all different, or with many ties."""
    if kind == "full-vocabulary":
        return reference.randn(2, 50257, seed=seed, std=3.0, device=device)
    if kind == "ties":  # values on a grid of 0.5: many equal logits, at every rank
        return torch.round(reference.randn(4, 24, seed=seed, std=1.5) * 2).div(2).to(device)
    return reference.randn(5, 10, seed=seed, std=2.0, device=device)  # "small"


def check_filter(kata_filter, name, logits, expected, mistakes, case):
    given = logits.clone()  # the cached case stays intact whatever the learner's code does
    got = kata_filter(given)
    if not torch.equal(given, logits):
        fail(case, _("{name} changed its input in place").format(name=name), _("return a new tensor: "
             "logits.masked_fill(mask, float('-inf')), not logits[mask] = ..."))
    got = expect_tensor(got, expected, case=case, what=name)
    removed = expected == float("-inf")
    odd = removed & (got != float("-inf")) & (got != logits)
    if odd.any():
        fail(case, _("{name} sets removed logits to {value:.3g}; they must be -inf").format(
            name=name, value=got[odd][0].item()),
             _("use float('-inf'): softmax then gives those tokens probability exactly 0"))
    explained(lambda named: expect_equal(kept(got), kept(expected), case=case, mistakes=named,
                                         what=_("which tokens {name} keeps (1 kept, 0 removed)").format(name=name)),
              mistakes)
    expect_equal(got.masked_fill(removed, 0.0), logits.masked_fill(removed, 0.0), case=case,
                 what=_("the logits {name} keeps (they must keep their value)").format(name=name))


KINDS = {"full-vocabulary": N_("full-vocabulary"), "small": N_("small"), "ties": N_("ties")}  # in the cases
TOP_K = [("full-vocabulary", 1), ("full-vocabulary", 50), ("full-vocabulary", 50257),
         ("small", 3), ("small", 9), ("small", 12), ("ties", 1), ("ties", 4), ("ties", 7)]


@pytest.mark.parametrize(("kind", "k"), TOP_K, ids=[f"{kind}-k{k}" for kind, k in TOP_K])
def test_top_k_filter(kata, device, seed, kind, k):
    logits, _p, expected = filter_case(kind, 1000 * seed + k, str(device), k=k)
    case = _("top_k_filter(logits of shape {shape} ({kind}), k={k})").format(
        shape=tuple(logits.shape), kind=_(KINDS[kind]), k=k)
    check_filter(lambda x: kata.top_k_filter(x, k), "top_k_filter", logits, expected,
                 lambda: top_k_mistakes(logits, k), case)


TOP_P = [("full-vocabulary", 0.5), ("full-vocabulary", 0.9), ("small", 0.0), ("small", 0.3),
         ("small", 0.75), ("small", 0.95), ("ties", 0.5), ("ties", 0.9)]


@pytest.mark.parametrize(("kind", "p"), TOP_P, ids=[f"{kind}-p{p}" for kind, p in TOP_P])
def test_top_p_filter(kata, device, seed, kind, p):
    logits, p, expected = filter_case(kind, 1000 * seed + int(100 * p) + 7, str(device), p=p)
    case = _("top_p_filter(logits of shape {shape} ({kind}), p={p:.6g})").format(
        shape=tuple(logits.shape), kind=_(KINDS[kind]), p=p)
    check_filter(lambda x: kata.top_p_filter(x, p), "top_p_filter", logits, expected,
                 lambda: top_p_mistakes(logits, p), case)


# ---------------------------------------------------------------------------------------------
# Generation


class FixedLogits(torch.nn.Module):
    """A stand-in model whose next-token logits never change: the sampling distribution is exact."""

    def __init__(self, logits, n_positions=64):
        super().__init__()
        self.register_buffer("logits", logits)
        self.config = SimpleNamespace(n_positions=n_positions)

    def forward(self, idx):
        B, T = idx.shape
        return self.logits.repeat(B, T, 1)  # (B, T, V), a new tensor as a real model returns


def hf_greedy(ref, idx, max_new_tokens):
    """transformers' own greedy decoding; eos_token_id=None so that it neither stops at eos nor
    forbids it (min_new_tokens would mask eos, which changes the greedy choice)."""
    return ref.generate(idx, attention_mask=torch.ones_like(idx), do_sample=False, use_cache=False,
                        max_new_tokens=max_new_tokens, eos_token_id=None, pad_token_id=0)


@torch.no_grad()
def greedy_loop(model, idx, max_new_tokens, *, position=-1, crop="last"):
    """Greedy decoding written out, with a classic mistake switched on by its arguments."""
    n = model.config.n_positions
    for _step in range(max_new_tokens):
        context = idx[:, -n:] if crop == "last" else idx[:, :n]
        token = model(context)[:, position, :].argmax(-1, keepdim=True)
        idx = torch.cat([idx, token], dim=1)
    return idx


def run_generate(kata, model, idx, max_new_tokens, case, **sampling):
    """kata.generate on a copy of idx, turning the stand-in model's refusal of a too-long context
    into an explanation."""
    try:
        return kata.generate(model, idx.clone(), max_new_tokens, **sampling)
    except reference.ContextTooLong as error:
        fail(case, _("generate gave the model more tokens than its context: {error}").format(error=error),
             _("crop the context to the last model.config.n_positions tokens before each call: "
               "idx[:, -n_positions:]"), diagnosis=_(NO_CROPPING))


def expect_tokens(got, expected, idx, case, mistakes=list):
    got = expect_tensor(got, expected, case=case, what=_("generate's output"),
                        shape_hints={(expected.size(0), expected.size(1) - idx.size(1)):
                                     _("return idx followed by the new tokens, (B, T + max_new_tokens)")})
    if not torch.equal(got[:, :idx.size(1)], idx):
        fail(case, _("generate's output does not start with idx"), _("return torch.cat([idx, new tokens], dim=1)"))
    explained(lambda named: expect_equal(got, expected, case=case, what=_("the generated tokens"), mistakes=named),
              mistakes)


@functools.lru_cache(maxsize=16)
def greedy_case(shape, batch, new, case_seed, device):
    """(model, idx, transformers' greedy tokens) for one case: computed once per process."""
    V, n_positions, C, n_head, n_layer = shape
    ref = reference.lm_model(C, n_head, n_positions, n_layer, V, case_seed).to(device)
    idx = torch.randint(0, V, batch, generator=reference.generator(case_seed)).to(device)
    return reference.Logits(ref), idx, hf_greedy(ref, idx, new)


@functools.lru_cache(maxsize=8)
def cropping_case(T, new, case_seed, device):
    """(model with n_positions=16, idx of shape (2, T), the greedy tokens with cropping)."""
    model = reference.Logits(reference.lm_model(32, 4, 16, 2, 64, case_seed).to(device))
    idx = torch.randint(0, 64, (2, T), generator=reference.generator(case_seed)).to(device)
    return model, idx, greedy_loop(model, idx, new)


GREEDY = [  # (vocab_size, n_positions, n_embd, n_head, n_layer), (B, T), max_new_tokens
    pytest.param((64, 32, 32, 4, 2), (2, 5), 10, id="V64-B2-T5-new10"),
    pytest.param((50257, 64, 48, 4, 2), (1, 3), 6, id="V50257-B1-T3-new6"),
]


@pytest.mark.parametrize(("shape", "batch", "new"), GREEDY)
def test_greedy_equals_hf_generate(kata, device, seed, shape, batch, new):
    V, n_positions, C, n_head, n_layer = shape
    case_seed = 1000 * seed + V + C
    case = _("generate(GPT2LMHeadModel(vocab_size={V}, n_embd={C}, n_layer={n_layer}), idx of shape "
             "{batch}, max_new_tokens={new}, temperature=0), seed {seed}").format(
        V=V, C=C, n_layer=n_layer, batch=batch, new=new, seed=case_seed)
    model, idx, expected = greedy_case(shape, batch, new, case_seed, str(device))
    got = run_generate(kata, model, idx, new, case, temperature=0.0)
    expect_tokens(got, expected, idx, case, mistakes=lambda: [
        Mistake(_("the first position's logits used"), _("the next token comes from the logits of the last "
                "position: model(context)[:, -1, :]"), greedy_loop(model, idx, new, position=0))])


@pytest.mark.parametrize(("T", "new"), [(20, 4), (14, 6)], ids=["T20-longer-than-context", "T14-grows-past-16"])
def test_context_cropping(kata, device, seed, T, new):
    """Past n_positions tokens, the model sees the last n_positions, and generation goes on."""
    case_seed = 1000 * seed + T
    case = _("generate(a model with n_positions=16, idx of shape (2, {T}), max_new_tokens={new}, "
             "temperature=0)").format(T=T, new=new)
    model, idx, expected = cropping_case(T, new, case_seed, str(device))
    got = run_generate(kata, model, idx, new, case, temperature=0.0)
    expect_tokens(got, expected, idx, case, mistakes=lambda: [
        Mistake(_("the first n_positions tokens kept instead of the last"), _("the context is the end of the "
                "sequence: idx[:, -n_positions:]"), greedy_loop(model, idx, new, crop="first"))])


def sampling_model(device):
    return FixedLogits(torch.tensor([1.0, 0.6, 0.3, 0.0, -0.2, -0.5, -0.9, -1.2], device=device))


def test_sampling_is_seeded(kata, device):
    case = _("generate(a model with fixed logits over 8 tokens, idx of shape (2, 1), max_new_tokens=20)")
    model, idx = sampling_model(device), torch.zeros(2, 1, dtype=torch.long, device=device)
    for sampling in ({"temperature": 1.0}, {"temperature": 0.8, "top_k": 6, "top_p": 0.9}):
        where = f"{case}, {sampling}"
        draw = lambda s: run_generate(kata, model, idx, 20, where, **sampling,  # noqa: E731
                                      generator=torch.Generator(device=device).manual_seed(s))
        first, again, other = draw(7), draw(7), draw(8)
        expect_tensor(first, torch.zeros(2, 21, dtype=torch.long, device=device), case=where,
                      what=_("generate's output"))
        if not torch.equal(first, again):
            fail(where, _("two calls with generators seeded alike gave different tokens"),
                 _("draw with torch.multinomial(probs, 1, generator=generator)"), diagnosis=_("generator not used"))
        if torch.equal(first, other):
            fail(where, _("generators seeded differently gave the same 40 tokens: generate does not sample"),
                 _("with temperature > 0, draw the token with torch.multinomial, not argmax"),
                 diagnosis=_("not sampling"))


def hf_probabilities(logits, temperature, top_k, top_p, order=("temperature", "top_k", "top_p")):
    """The next-token distribution transformers samples from (its warpers, in its order)."""
    from transformers.generation.logits_process import TemperatureLogitsWarper

    steps = {"temperature": lambda x: TemperatureLogitsWarper(temperature)(None, x) if temperature else x,
             "top_k": lambda x: hf_top_k(x, top_k) if top_k else x,
             "top_p": lambda x: hf_top_p(x, top_p) if top_p is not None else x}
    scores = logits.unsqueeze(0)
    for step in order:
        scores = steps[step](scores)
    return scores.softmax(-1)[0]


SAMPLING = [(0.5, None, None), (1.6, None, None), (1.0, 3, None), (0.7, None, 0.8), (2.0, 5, 0.6)]


@pytest.mark.parametrize(("temperature", "top_k", "top_p"), SAMPLING,
                         ids=[f"T{t}-k{k}-p{p}" for t, k, p in SAMPLING])
def test_sampling_distribution(kata, device, seed, temperature, top_k, top_p):
    N = 100_000
    model, idx = sampling_model(device), torch.zeros(N, 1, dtype=torch.long, device=device)
    case = _("generate(a model with fixed logits over 8 tokens, idx of shape ({N}, 1), max_new_tokens=1, "
             "temperature={temperature}, top_k={top_k}, top_p={top_p})").format(
        N=N, temperature=temperature, top_k=top_k, top_p=top_p)
    generator = torch.Generator(device=device).manual_seed(1000 * seed + 3)
    got = run_generate(kata, model, idx, 1, case, temperature=temperature, top_k=top_k, top_p=top_p,
                       generator=generator)
    got = expect_tensor(got, torch.zeros(N, 2, dtype=torch.long, device=device), case=case, what=_("generate's output"))
    tokens = got[:, 1]
    if tokens.min() < 0 or tokens.max() >= 8:
        fail(case, _("generate produced token ids outside 0..7 (from {low} to {high})").format(
            low=tokens.min().item(), high=tokens.max().item()))
    frequencies = torch.bincount(tokens, minlength=8).double().cpu() / N
    logits = model.logits.double().cpu()
    expected = hf_probabilities(logits, temperature, top_k, top_p)
    wrong = {"temperature not applied to the logits": hf_probabilities(logits, 1.0, top_k, top_p)}
    if top_k or top_p:
        wrong["temperature applied after the filters"] = hf_probabilities(
            logits, temperature, top_k, top_p, order=("top_k", "top_p", "temperature"))
    if top_k and top_p:
        wrong["top-p applied before top-k"] = hf_probabilities(
            logits, temperature, top_k, top_p, order=("temperature", "top_p", "top_k"))
    hints = {N_("temperature not applied to the logits"): N_("divide the logits by the temperature before the "
             "softmax (dividing the probabilities changes nothing once multinomial normalises them)"),
             N_("temperature applied after the filters"): N_("divide by the temperature first: top-p's nucleus "
             "depends on it"), N_("top-p applied before top-k"): N_("top_k_filter first, then top_p_filter")}
    # N draws: a frequency's standard error is at most 0.5 / sqrt(N) = 0.0016; 0.01 is 6 of them.
    # A mistake is named only when the frequencies fit it as well as they should fit the reference.
    atol = 0.01
    expect_close(frequencies, expected, case=case, what=_("the frequency of each token over {N} draws").format(N=N),
                 atol=atol, rtol=0.0, mistakes=[Mistake(_(name), _(hints[name]), probs) for name, probs in wrong.items()
                                                 if (frequencies - probs).abs().max() <= atol])


@functools.lru_cache(maxsize=4)
def text_case(case_seed, device):
    """(model, the text transformers' greedy decoding writes after PROMPT)."""
    tokenizer = gpt2_tokenizer()
    ref = reference.lm_model(32, 2, 64, 1, 50257, case_seed).to(device)
    prompt_ids = torch.tensor([tokenizer.encode(PROMPT)], device=device)
    return reference.Logits(ref), tokenizer.decode(hf_greedy(ref, prompt_ids, 10)[0, prompt_ids.size(1):].tolist())


def test_generate_text(kata, device, seed):
    tokenizer = gpt2_tokenizer()
    english = "The quick brown fox jumps over the lazy dog. It's 2019, isn't it?"
    if tokenizer.encode("Hello world") != [15496, 995] or tokenizer.decode(tokenizer.encode(english)) != english:
        fail("gpt2lab.tokenizer.gpt2_tokenizer()", _("GPT-2's tokenizer files in gpt2lab/data/gpt2 are damaged"),
             _("restore them from the repository (git checkout gpt2lab/data/gpt2)"))
    case = _("generate_text(GPT2LMHeadModel(vocab_size=50257, n_embd=32), GPT-2's tokenizer, {prompt!r}, 10, "
             "temperature=0)").format(prompt=PROMPT)
    model, expected = text_case(1000 * seed + 5, str(device))
    runs = {"temperature=0": {"temperature": 0.0},
            N_("temperature=1.0, top_k=1 (the greedy tokens, sampled)"): {
                "temperature": 1.0, "top_k": 1, "generator": torch.Generator(device=device).manual_seed(1)}}
    for label, sampling in runs.items():
        where = case.replace("temperature=0", _(label))
        got = kata.generate_text(model, remote.Exposed(tokenizer, "encode", "decode") if isinstance(kata, proxies.Proxy)
                                 else tokenizer, PROMPT, 10, **sampling)
        if not isinstance(got, str):
            fail(where, _("generate_text returned a {kind}, expected a str").format(kind=type(got).__name__),
                 _("decode the new token ids with tokenizer.decode(list_of_ids)"))
        if got == PROMPT + expected:
            fail(where, _("generate_text returned the prompt followed by the continuation"),
                 _("return the continuation only: decode the tokens after the prompt's"))
        if got != expected:
            at = next((i for i, (a, b) in enumerate(zip(got, expected)) if a != b), min(len(got), len(expected)))
            fail(where, _("generate_text's text differs from the decoded greedy tokens from character {at} on "
                          "(yours has {yours} characters, the expected text {expected})").format(
                at=at, yours=len(got), expected=len(expected)),
                 _("encode the prompt, pass the sampling arguments on to generate (**sampling), and "
                   "decode only the new tokens"))


KNOWN_CONTINUATION = " not a programming language. I'm a language model."  # GPT-2 124M, greedy


# the reason is translated when pytest imports the suite (GPT2LAB_LANG is set by then)
@pytest.mark.skipif(not hub.is_cached("gpt2"), reason=_("GPT-2's pretrained weights are not in the local "
                    "Hugging Face cache: with internet, run `python -c \"from transformers import "
                    "GPT2LMHeadModel; GPT2LMHeadModel.from_pretrained('gpt2')\"` once to add this check"))
def test_pretrained_gpt2_writes_english(kata, device):
    """With OpenAI's weights: your GPT2 (e06) and generate_text write what transformers writes."""
    from transformers import GPT2LMHeadModel

    if isinstance(kata, proxies.Proxy):
        pytest.skip(_("graded without OpenAI's weights: the sandbox has no Hugging Face cache"))
    tokenizer = gpt2_tokenizer()
    case = _("generate_text(GPT2.from_pretrained('gpt2'), GPT-2's tokenizer, {prompt!r}, 16, "
             "temperature=0)").format(prompt=PROMPT)
    with hub.offline():  # it is in the cache: no network call, no waiting on retries
        model = sibling(kata, "e06").GPT2.from_pretrained("gpt2").to(device)
        ref = GPT2LMHeadModel.from_pretrained("gpt2").eval().to(device)
    got = kata.generate_text(model, tokenizer, PROMPT, 16, temperature=0.0)
    prompt_ids = torch.tensor([tokenizer.encode(PROMPT)], device=device)
    expected = tokenizer.decode(hf_greedy(ref, prompt_ids, 16)[0, prompt_ids.size(1):].tolist())
    if got != expected:
        fail(case, _("GPT-2 124M's greedy continuation is not the one transformers writes"),
             _("yours: {got!r}").format(got=got), _("check e06 and e07 first: nox -s check -- e06 e07"))
    if not expected.startswith(KNOWN_CONTINUATION):
        fail(case, _("transformers' own greedy continuation is not GPT-2 124M's known one: the cached "
                     "'gpt2' checkpoint is not OpenAI's original"),
             _("it starts: {start!r}").format(start=expected[:60]))
