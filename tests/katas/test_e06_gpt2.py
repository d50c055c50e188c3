"""Hidden suite for e06: GPT2 against transformers' GPT2LMHeadModel with the same random weights,
loaded from both checkpoint layouts; from_pretrained on a local directory and with nothing to load."""

import copy
import weakref

import pytest
import torch

from gpt2lab import hub, reference
from gpt2lab.i18n import N_, _
from gpt2lab.learner import build_for_loading, describe, learner_side, sibling, upload
from gpt2lab.probes import expect_eval_deterministic, expect_output_dropout
from gpt2lab.verdict import KataFailure, KnownShape, Mistake, expect_close, fail

pytestmark = pytest.mark.kata("e06")

# Logits are of order one (reference.lm_model); float32 rounding through 12 blocks stays < 1e-5.
ATOL, RTOL = 1e-4, 0.0

SMALL = (97, 16, 32, 4, 2)  # (vocab_size, n_positions, n_embd, n_head, n_layer)
SHAPES = [  # (vocab_size, n_positions, n_embd, n_head, n_layer), (B, T)
    pytest.param((50257, 1024, 768, 12, 12), (1, 8), id="gpt2-124M-B1-T8"),
    pytest.param(SMALL, (3, 16), id="V97-L2-T16-full-context"),
    pytest.param((64, 32, 48, 3, 3), (2, 5), id="V64-L3-B2-T5"),
    pytest.param((50257, 64, 32, 2, 2), (1, 1), id="V50257-L2-B1-T1"),
]
SHARED = N_("shared parameters in clones")
LAST_ONLY = N_("logits of the last position only")
NO_EPS = N_("layer_norm_epsilon not used")
UNTIED = N_("untied head")
EPS, DEFAULT_EPS = 1e-2, 1e-5  # a layer_norm_epsilon other than GPT2Config's default


def config_of(kata, shape, dropout=0.0, **more):
    V, n_positions, C, n_head, n_layer = shape
    return kata.GPT2Config(vocab_size=V, n_positions=n_positions, n_embd=C, n_layer=n_layer,
                           n_head=n_head, dropout=dropout, **more)


def ref_model(shape, seed, eps=DEFAULT_EPS):
    V, n_positions, C, n_head, n_layer = shape
    return reference.lm_model(C, n_head, n_positions, n_layer, V, seed, eps)


def legacy_state_dict(ref):
    """The layout of the original `gpt2` checkpoint: no prefix, no head, two mask buffers per block."""
    n = ref.config.n_positions
    state = {k.removeprefix("transformer."): v for k, v in ref.state_dict().items() if k != "lm_head.weight"}
    for i in range(ref.config.n_layer):
        state[f"h.{i}.attn.bias"] = torch.tril(torch.ones(n, n)).view(1, 1, n, n)
        state[f"h.{i}.attn.masked_bias"] = torch.tensor(-1e4)
    return state


def build(kata, shape, device, **more):
    """The learner's GPT2 for a checkpoint that sets every weight (random initialisers skipped)."""
    config = config_of(kata, shape, **more)
    return build_for_loading(lambda: kata.GPT2(config)).to(device).eval()


def load(kata, model, state, case):
    """load_hf_weights with a checkpoint that fits; then check that the weights really moved."""
    try:  # the loaded weights are compared where they are (when grading, in the worker)
        loaded = learner_side(kata).load_and_compare(kata.load_hf_weights, model, state, prefix="transformer.",
                                                     skip=("lm_head.weight",))
    except (ValueError, KeyError, RuntimeError) as error:
        fail(case, _("load_hf_weights refused a GPT-2 checkpoint that fits the model: "
                     "{kind}: {error}").format(kind=type(error).__name__, error=error),
             _("strip the 'transformer.' prefix; skip lm_head.weight and the attn.bias / attn.masked_bias "
               "buffers; every other name is one of your model's"))
    for name in loaded["differs"]:
        fail(case, _("after load_hf_weights, {name} does not hold the checkpoint's values").format(name=name),
             _("copy into the model's own tensors: model.state_dict()[name].copy_(tensor) under "
               "torch.no_grad() (assigning to the dict changes nothing)"))
    for name in loaded["nan"]:  # still build()'s fill, never loaded (a tied head is listed once, as wte.weight)
        if name == "lm_head.weight":
            fail(case, _("lm_head.weight is not wte.weight, and load_hf_weights did not set it: your "
                         "head keeps its initial values"), _("tie it: self.lm_head.weight = self.wte.weight"),
                 diagnosis=_(UNTIED))
        fail(case, _("after load_hf_weights, {name} still holds its initial values: no tensor of the "
                     "checkpoint was loaded into it").format(name=name), _("every parameter of GPT2 has a tensor "
             "in a GPT-2 checkpoint: compare your names with model.state_dict().keys()"))
    return model


def random_ids(shape, B, T, seed, device):
    return torch.randint(0, shape[0], (B, T), generator=reference.generator(seed)).to(device)


# reference model -> {(input, mistake): its logits}: watch mode checks e06 again on every save, and
# each forward of GPT-2 124M is ~0.08 s of the 1 s it has
KNOWN: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def hf_logits(ref, idx, *, no_ln_f=False, no_wpe=False):
    """The reference's logits, or those of a classic mistake switched on with forward hooks."""
    key = (idx.device, tuple(idx.shape), tuple(idx.flatten().tolist()), no_ln_f, no_wpe)
    known = KNOWN.setdefault(ref, {})
    if key not in known:
        known[key] = hooked_logits(ref, idx, no_ln_f=no_ln_f, no_wpe=no_wpe)
    return known[key]


@torch.no_grad()
def hooked_logits(ref, idx, *, no_ln_f, no_wpe):
    body = ref.transformer
    hooks = []
    if no_ln_f:
        hooks.append(body.ln_f.register_forward_hook(lambda m, args, out: args[0]))
    if no_wpe:
        hooks.append(body.wpe.register_forward_hook(lambda m, args, out: torch.zeros_like(out)))
    try:
        return ref(idx).logits
    finally:
        for hook in hooks:
            hook.remove()


@torch.no_grad()
def shared_blocks_logits(ref, idx):
    """Every block with the last block's weights: what clones sharing one module ends up loading."""
    shared = copy.deepcopy(ref)
    for block in shared.transformer.h:
        block.load_state_dict(shared.transformer.h[-1].state_dict())
    return shared(idx).logits


def logits_mistakes(ref, idx, small):
    mistakes = [
        Mistake(_("no final LayerNorm"), _("apply ln_f to the last block's output, before lm_head"),
                hf_logits(ref, idx, no_ln_f=True)),
        Mistake(_("no position embeddings"), _("add wpe(positions 0..T-1) to the token embeddings"),
                hf_logits(ref, idx, no_wpe=True)),
    ]
    if small and ref.config.n_layer > 1:
        mistakes.append(Mistake(_(SHARED), _("the blocks share one set of weights (the last one loaded): "
                                             "clones must deep-copy the block (e05)"), shared_blocks_logits(ref, idx)))
    return mistakes


@torch.no_grad()
def default_eps_logits(ref, idx, where):
    """The logits with GPT2Config's default eps in the blocks' LayerNorms, in ln_f, or in both."""
    model = copy.deepcopy(ref)
    for name, module in model.transformer.named_modules():
        if isinstance(module, torch.nn.LayerNorm) and where in ("both", "ln_f" if name == "ln_f" else "blocks"):
            module.eps = DEFAULT_EPS
    return model(idx).logits


def eps_mistakes(ref, idx):
    if ref.config.layer_norm_epsilon == DEFAULT_EPS:
        return []
    hints = {"both": N_("build every LayerNorm with config.layer_norm_epsilon: the blocks' (Block(..., eps)) and ln_f"),
             "blocks": N_("give config.layer_norm_epsilon to the blocks too: Block(..., eps=...) passes it to ln_1 "
                          "and ln_2"), "ln_f": N_("build ln_f with eps=config.layer_norm_epsilon too")}
    return [Mistake(_(NO_EPS), _(hint), default_eps_logits(ref, idx, where)) for where, hint in hints.items()]


def shape_hints(B, T, ref):
    V, C = ref.config.vocab_size, ref.config.n_embd
    last_only = _("GPT2.forward returns the logits of every position, (B, T, V): training (e10) needs them "
                  "all. nanoGPT's forward keeps only the last position's at inference (x[:, [-1], :]); "
                  "generation (e07) takes logits[:, -1, :] itself")
    return {(B, V): KnownShape(_(LAST_ONLY), last_only), (B, 1, V): KnownShape(_(LAST_ONLY), last_only),
            (B, T, C): _("lm_head is missing: logits = lm_head(ln_f(x))")}


def check_logits(kata, ref, model, idx, case, small):
    """small: a model small enough to also check eval() determinism and recognise shared blocks."""
    B, T = idx.shape
    hints = shape_hints(B, T, ref)
    with torch.no_grad():
        got = expect_eval_deterministic(lambda: model(idx), case=case, what="GPT2.forward") if small \
            else model(idx)
        expected = hf_logits(ref, idx)
        try:
            expect_close(got, expected, case=case, what=_("the logits"), atol=ATOL, rtol=RTOL, shape_hints=hints)
        except KataFailure:  # only now pay for running the classic mistakes, to name the one it is
            expect_close(got, expected, case=case, what=_("the logits"), atol=ATOL, rtol=RTOL,
                         mistakes=[*eps_mistakes(ref, idx), *logits_mistakes(ref, idx, small)], shape_hints=hints)


def test_structure(kata):
    shape = (97, 16, 32, 4, 3)
    case = _("{model} with dropout=0.25").format(model=describe(shape))
    config = config_of(kata, shape, dropout=0.25)
    model = kata.GPT2(config)
    if getattr(model, "config", None) != config:
        fail(case, _("GPT2 must keep its config as self.config"), _("generation (e07) reads model.config.n_positions"))
    expected = {"wte": (torch.nn.Embedding, "nn.Embedding(97, 32)", (97, 32)),
                "wpe": (torch.nn.Embedding, "nn.Embedding(16, 32)", (16, 32)),
                "lm_head": (torch.nn.Linear, "nn.Linear(32, 97, bias=False)", (97, 32))}
    for name, (cls, text, weight_shape) in expected.items():
        sub = getattr(model, name, None)
        if not isinstance(sub, cls) or tuple(sub.weight.shape) != weight_shape:
            fail(case, _("GPT2.{name} should be {text}, found {sub!r}").format(name=name, text=text, sub=sub))
    if model.lm_head.bias is not None:
        fail(case, _("GPT2.lm_head has a bias; GPT-2's head has none"), "nn.Linear(C, V, bias=False)")
    if not isinstance(getattr(model, "drop", None), torch.nn.Dropout) or model.drop.p != 0.25:
        fail(case, _("GPT2.drop should be nn.Dropout(config.dropout), found {drop!r}").format(
            drop=getattr(model, "drop", None)))
    if not isinstance(getattr(model, "ln_f", None), sibling(kata, "e01").LayerNorm):
        fail(case, _("GPT2.ln_f should be your LayerNorm from e01"))
    block = sibling(kata, "e05").Block
    h = getattr(model, "h", None)
    if not isinstance(h, torch.nn.ModuleList) or len(h) != 3 or not all(isinstance(b, block) for b in h):
        fail(case, _("GPT2.h should be an nn.ModuleList of 3 of your Blocks (e05), found {kind}").format(
            kind=type(h).__name__), "self.h = clones(Block(...), config.n_layer)")
    if h[0].ln_1 is h[1].ln_1 or h[0].attn.c_attn.weight is h[1].attn.c_attn.weight:
        fail(case, _("the blocks of GPT2.h share their parameters"), _("clones must deep-copy the block (e05)"),
             diagnosis=_(SHARED))
    if model.lm_head.weight is not model.wte.weight:
        fail(case, _("lm_head.weight is not wte.weight: the head is not tied to the token embeddings"),
             _("after creating both: self.lm_head.weight = self.wte.weight (the same Parameter)"),
             diagnosis=_(UNTIED))
    ours = sum(p.numel() for p in model.parameters())
    theirs = sum(p.numel() for p in ref_model(shape, 1).parameters())
    if ours != theirs:
        fail(case, _("GPT2 has {ours} parameters, GPT-2 has {theirs} ({difference:+d})").format(
            ours=ours, theirs=theirs, difference=ours - theirs),
             _("compare your submodules with the list in the docstring"))


@pytest.mark.parametrize(("shape", "batch"), SHAPES)
def test_logits(kata, device, seed, shape, batch):
    """Hugging Face's GPT2LMHeadModel layout ('transformer.' prefix, lm_head.weight)."""
    (B, T), case_seed = batch, 1000 * seed + sum(shape)
    case = _("{model}, idx of shape {batch}, GPT2LMHeadModel's state dict, seed {seed}").format(
        model=describe(shape), batch=batch, seed=case_seed)
    ref = ref_model(shape, case_seed).to(device)
    model = load(kata, build(kata, shape, device), ref.state_dict(), case)
    check_logits(kata, ref, model, random_ids(shape, B, T, case_seed, device), case, small=shape[2] < 768)


def test_layer_norm_epsilon(kata, device, seed):
    """A checkpoint whose config sets layer_norm_epsilon: every LayerNorm of the model uses it."""
    shape, (B, T), case_seed = (64, 32, 48, 3, 3), (2, 9), 1000 * seed + 41
    case = _("{model}, layer_norm_epsilon={eps}), idx of shape ({B}, {T}), GPT2LMHeadModel's "
             "state dict, seed {seed}").format(model=describe(shape)[:-1], eps=EPS, B=B, T=T, seed=case_seed)
    ref = ref_model(shape, case_seed, eps=EPS).to(device)
    model = load(kata, build(kata, shape, device, layer_norm_epsilon=EPS), ref.state_dict(), case)
    check_logits(kata, ref, model, random_ids(shape, B, T, case_seed, device), case, small=True)


@pytest.mark.parametrize(("shape", "batch"), SHAPES[1:3])
def test_legacy_layout(kata, device, seed, shape, batch):
    """The original `gpt2` checkpoint: no prefix, no lm_head.weight, attn.bias / attn.masked_bias."""
    (B, T), case_seed = batch, 1000 * seed + sum(shape)
    case = _("{model}, idx of shape {batch}, the original gpt2 layout, seed {seed}").format(
        model=describe(shape), batch=batch, seed=case_seed)
    ref = ref_model(shape, case_seed).to(device)
    model = load(kata, build(kata, shape, device), legacy_state_dict(ref), case)
    if model.lm_head.weight is not model.wte.weight:
        fail(case, _("lm_head.weight is not wte.weight, and this checkpoint has no lm_head.weight: "
                     "your head keeps its random initial values"), _("tie it: self.lm_head.weight = self.wte.weight"),
             diagnosis=_(UNTIED))
    check_logits(kata, ref, model, random_ids(shape, B, T, case_seed, device), case, small=True)


def shape_texts(shape):
    shape = tuple(shape)
    return {str(shape), str(list(shape)), str(torch.Size(shape))}


@pytest.mark.parametrize("problem", ["missing", "unexpected", "wrong-shape"])
def test_loading_is_loud(kata, problem):
    tensor = {"missing": N_("missing tensor"), "unexpected": N_("unexpected tensor"),
              "wrong-shape": N_("wrong shape tensor")}[problem]  # "the {problem.replace('-', ' ')} tensor"
    case = _("{model}, a checkpoint with a {tensor}").format(model=describe(SMALL), tensor=_(tensor))
    state = dict(ref_model(SMALL, 5).state_dict())
    name = {"missing": "h.1.mlp.c_fc.bias", "unexpected": "h.2.ln_1.weight",
            "wrong-shape": "h.0.attn.c_attn.weight"}[problem]
    key = "transformer." + name
    if problem == "missing":
        del state[key]
    elif problem == "unexpected":
        state[key] = torch.ones(SMALL[2])  # as in a checkpoint with more layers than the model
    else:
        state[key] = state[key].T.contiguous()
    model = kata.GPT2(config_of(kata, SMALL))
    try:
        kata.load_hf_weights(model, state)
    except NotImplementedError:
        raise
    except Exception as error:  # noqa: BLE001 — any type, as long as the message says what is wrong
        message = str(error)
    else:
        fail(case, _("load_hf_weights accepted a checkpoint that does not fit the model"),
             _("compare names and shapes first and raise ValueError naming each problem"))
    if name not in message:
        fail(case, _("load_hf_weights raised, but its message does not name the {tensor} ({name})").format(
            tensor=_(tensor), name=name), _("its message: {message}").format(message=message[:300]))
    if problem == "wrong-shape":
        yours, found = (32, 96), (96, 32)
        if not (any(t in message for t in shape_texts(yours)) and any(t in message for t in shape_texts(found))):
            fail(case, _("load_hf_weights names the tensor but not both shapes: the one the model expects "
                         "and the one found in the checkpoint"),
                 _("its message: {message}").format(message=message[:300]))


def test_context_limit(kata, device):
    shape = SMALL
    case = _("{model}, idx of shape (1, 17): one token more than n_positions").format(model=describe(shape))
    ref = ref_model(shape, 3).to(device)
    model = load(kata, kata.GPT2(config_of(kata, shape)).to(device).eval(), ref.state_dict(), case)
    idx = random_ids(shape, 1, 17, 3, device)
    try:
        with torch.no_grad():
            model(idx)
    except ValueError as error:
        if "17" not in str(error) or "16" not in str(error):
            fail(case, _("the ValueError should give both numbers: the length of the input (17) and "
                         "n_positions (16)"), _("its message: {message}").format(message=str(error)[:300]))
        return
    except NotImplementedError:
        raise
    except Exception as error:  # noqa: BLE001
        fail(case, _("GPT2.forward raised {kind} ({error}) on a sequence longer than n_positions").format(
            kind=type(error).__name__, error=str(error)[:120]),
             _("check the length first and raise ValueError with T and n_positions"))
    fail(case, _("GPT2.forward accepted a sequence longer than n_positions"),
         _("raise ValueError with T and n_positions in the message"))


def test_dropout(kata, device, seed):
    """eval(): no dropout anywhere. train(): dropout on the embeddings, once, before the blocks."""
    p, shape, case_seed = 0.5, (97, 32, 32, 4, 2), 1000 * seed + 21
    case = _("{model} with dropout={p}, idx of shape (4, 32)").format(model=describe(shape), p=p)
    ref = ref_model(shape, case_seed).to(device)
    model = load(kata, kata.GPT2(config_of(kata, shape, dropout=p)).to(device), ref.state_dict(), case)
    idx = random_ids(shape, 4, 32, case_seed, device)
    model.eval()
    check_logits(kata, ref, model, idx, case + ", eval()", small=True)

    caught = []
    hook = model.h[0].register_forward_pre_hook(lambda m, args: caught.append(args[0]))
    try:
        with torch.no_grad():
            model(idx)
            model.train()
            model(idx)
    finally:
        hook.remove()
    evaluated, train = caught
    expect_output_dropout(train, evaluated, p, case=_("{case}, train(), the input of h[0]").format(case=case),
                          what="drop(wte(idx) + wpe(positions))")


@pytest.mark.pretrained
def test_from_pretrained_directory(kata, device, tmp_path):
    """A checkpoint written by save_pretrained: the config and the weights come from it."""
    shape = (97, 24, 32, 4, 2)
    case = _("GPT2.from_pretrained(a directory written by save_pretrained, {model}, "
             "layer_norm_epsilon={eps}))").format(model=describe(shape)[:-1], eps=EPS)
    ref = ref_model(shape, 31, eps=EPS)
    ref.save_pretrained(tmp_path)
    model = kata.GPT2.from_pretrained(upload(kata, tmp_path))
    if not isinstance(model, kata.GPT2):
        fail(case, _("from_pretrained returned a {kind}, expected your GPT2").format(kind=type(model).__name__),
             _("it is a classmethod: build cls(config), load the weights, return it"))
    V, n_positions, C, n_head, n_layer = shape
    expected = dict(vocab_size=V, n_positions=n_positions, n_embd=C, n_layer=n_layer, n_head=n_head,
                    layer_norm_epsilon=EPS)
    got = {k: getattr(model.config, k, None) for k in expected}
    if got != expected:
        eps_only = {k for k in expected if got[k] != expected[k]} == {"layer_norm_epsilon"}
        fail(case, _("the model's config is not the checkpoint's"), _("expected {expected}").format(expected=expected),
             _("got      {got}").format(got=got),
             _("this looks like a classic mistake: {name}").format(name=_(NO_EPS)) if eps_only else "",
             _("hint: {hint}").format(hint=_("build GPT2Config with the checkpoint's layer_norm_epsilon too"))
             if eps_only else "",
             diagnosis=_(NO_EPS) if eps_only else None)
    if model.training:
        fail(case, _("from_pretrained must return the model in eval() mode, as transformers does"))
    ref.to(device)
    check_logits(kata, ref, model.to(device), random_ids(shape, 2, 7, 31, device), case, small=True)


@pytest.mark.pretrained
def test_from_pretrained_without_network_or_cache(kata, tmp_path):
    case = _("GPT2.from_pretrained('gpt2') with HF_HUB_OFFLINE=1 and an empty HF_HOME")
    with hub.offline(tmp_path):
        try:
            kata.GPT2.from_pretrained("gpt2")
        except OSError as error:
            message = str(error)
        except NotImplementedError:
            raise
        except Exception as error:  # noqa: BLE001
            fail(case, _("from_pretrained raised {kind}, expected an OSError").format(kind=type(error).__name__),
                 _("its message: {message}").format(message=str(error)[:300]))
        else:
            fail(case, _("from_pretrained returned a model although nothing could be loaded"))
    if "gpt2" not in message:
        fail(case, _("the OSError does not say which checkpoint could not be loaded"),
             _("catch the OSError of transformers and raise OSError(f'... {name_or_path!r} ...') that "
               "names it and says how to get it (download it once with internet, or pass a directory "
               "written by save_pretrained)"),
             _("its message: {message}").format(message=message[:300]))
