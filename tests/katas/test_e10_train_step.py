"""Hidden suite for e10: the loss against transformers' ForCausalLMLoss (what GPT2LMHeadModel(labels=)
computes); the parameter groups against nanoGPT's rule on your GPT2 and on transformers' model; the
learning rate against transformers' cosine-with-min-lr schedule (with llm.c's warmup, one step
earlier); and whole training steps against the same steps taken with GPT2LMHeadModel and a torch
optimizer on the same weights, weight by weight (within 2e-5, more where Adam magnifies rounding).
"""

import copy
import math
import numbers

import pytest
import torch

from gpt2lab import reference
from gpt2lab.i18n import N_, _
from gpt2lab.learner import describe, gpt2_like, learner_side, torch_of
from gpt2lab.verdict import AdamSlack, Mistake, expect_close, fail

pytestmark = pytest.mark.kata("e10")

LOSS_ATOL, LOSS_RTOL = 1e-5, 1e-5  # one float32 cross-entropy, summed in another order
WEIGHT_ATOL = 2e-5  # after 1-3 steps of lr <= 3e-3 (AdamW) or 0.1 (SGD): rounding moves weights < 5e-6
# Correct float32 gradients differ by < 1e-6 of their tensor's largest: Adam magnifies that where the
# gradients are about 0, and verdict.AdamSlack allows for it per weight
GRAD_NOISE = 1e-5
NO_SHIFT = N_("loss not shifted")
DECAY_ALL = N_("weight decay on biases and LayerNorm")
NOT_CLIPPED = N_("gradients not clipped before the step")


def ref_model(shape, seed, device):
    """A fresh copy (training changes it) of transformers' GPT2LMHeadModel with random weights."""
    V, n_positions, C, n_head, n_layer = shape
    return copy.deepcopy(reference.lm_model(C, n_head, n_positions, n_layer, V, seed)).to(device)


# ---------------------------------------------------------------------------------------------
# The loss


def hf_loss(logits, idx):
    """transformers' causal-LM loss, the one GPT2LMHeadModel(input_ids=idx, labels=idx) returns."""
    from transformers.loss.loss_utils import ForCausalLMLoss

    return ForCausalLMLoss(logits, idx, vocab_size=logits.size(-1))


def loss_mistakes(logits, idx):
    ce = torch.nn.functional.cross_entropy
    V = logits.size(-1)
    flat = lambda x: x.reshape(-1, V)  # noqa: E731
    return [
        Mistake(_(NO_SHIFT), _("the logits at position t score the token at t + 1: compare logits[:, :-1] "
                "with idx[:, 1:]"), ce(flat(logits), idx.reshape(-1))),
        Mistake(_("loss shifted the wrong way"), _("drop the *last* position of the logits and the *first* token "
                "of the targets"), ce(flat(logits[:, 1:]), idx[:, :-1].reshape(-1))),
        Mistake(_("targets rolled around"), _("torch.roll moves the first token to the end, where it becomes the "
                "target of the last position: slice instead"), ce(flat(logits), idx.roll(-1, dims=1).reshape(-1))),
        Mistake(_("loss summed instead of averaged"), _("average over the B * (T - 1) predictions (cross_entropy's "
                "default reduction)"), ce(flat(logits[:, :-1]), idx[:, 1:].reshape(-1), reduction="sum")),
        Mistake(_("softmax before cross_entropy"), _("cross_entropy takes the logits themselves: it applies "
                "log_softmax itself"), ce(flat(logits[:, :-1]).softmax(-1), idx[:, 1:].reshape(-1))),
    ]


LOSS_CASES = [  # B, T, V
    pytest.param(4, 9, 97, id="B4-T9-V97"),
    pytest.param(1, 2, 10, id="B1-T2-one-prediction"),
    pytest.param(2, 64, 50257, id="B2-T64-V50257"),
]


@pytest.mark.parametrize(("B", "T", "V"), LOSS_CASES)
def test_lm_loss(kata, device, seed, B, T, V):
    case_seed = 1000 * seed + B + T + V
    case = _("lm_loss(logits of shape ({B}, {T}, {V}), idx of shape ({B}, {T})), seed {seed}").format(
        B=B, T=T, V=V, seed=case_seed)
    logits = reference.randn(B, T, V, seed=case_seed, std=2.0, device=device).requires_grad_()
    idx = torch.randint(0, V, (B, T), generator=reference.generator(case_seed)).to(device)
    expected = hf_loss(logits, idx)
    answer = learner_side(kata).value_and_grads(kata.lm_loss, logits, idx)
    got = answer["value"]
    with torch.no_grad():
        expect_close(got, expected.detach(), case=case, what="lm_loss", atol=LOSS_ATOL, rtol=LOSS_RTOL,
                     mistakes=loss_mistakes(logits.detach(), idx),
                     shape_hints={(B, T - 1): _("average over every prediction: the loss is one number, shape ()"),
                                  (B * (T - 1),): _("average over every prediction: the loss is one number, shape ()")})
    if not answer["requires_grad"] or answer["grads"][0] is None:
        fail(case, _("lm_loss's result does not depend on the logits for autograd"),
             _("return the tensor cross_entropy gives (not .item(), not .detach()): backward() starts from it"))
    (expected_grad,) = torch.autograd.grad(expected, logits)
    got_grad = answer["grads"][0]
    expect_close(got_grad, expected_grad, case=case, what=_("the gradient of lm_loss with respect to the logits"),
                 atol=1e-9, rtol=1e-4)


def test_lm_loss_is_gpt2s(kata, device, seed):
    """The loss GPT2LMHeadModel returns when it is given labels=idx."""
    shape = (97, 16, 32, 4, 2)
    case_seed = 1000 * seed + 11
    case = _("lm_loss(GPT2LMHeadModel(idx).logits, idx) with {model}, idx of shape (3, 16)").format(
        model=describe(shape))
    ref = ref_model(shape, case_seed, device)
    idx = torch.randint(0, 97, (3, 16), generator=reference.generator(case_seed)).to(device)
    with torch.no_grad():
        output = ref(idx, labels=idx)
        got = kata.lm_loss(output.logits, idx)
        expect_close(got, output.loss, case=case, what="lm_loss", atol=LOSS_ATOL, rtol=LOSS_RTOL,
                     mistakes=loss_mistakes(output.logits, idx))


# ---------------------------------------------------------------------------------------------
# The parameter groups


def check_groups(groups, model, weight_decay, case):
    """Every parameter once; weight_decay on those with dim >= 2, 0 on the others."""
    names = {id(p): name for name, p in model.named_parameters()}
    if not isinstance(groups, (list, tuple)) or not all(isinstance(g, dict) for g in groups):
        fail(case, _("param_groups returned a {kind}, expected a list of dicts").format(kind=type(groups).__name__),
             "[{'params': [...], 'weight_decay': wd}, {'params': [...], 'weight_decay': 0.0}]")
    seen: dict[int, list[float]] = {}
    for n, group in enumerate(groups):
        if "params" not in group or "weight_decay" not in group:
            fail(case, _("group {n} has the keys {keys}, expected 'params' and 'weight_decay'").format(
                n=n, keys=sorted(group)),
                 _("give every group its own weight_decay: the optimizer's default is not 0 for AdamW"))
        if not isinstance(group["params"], (list, tuple)):
            fail(case, _("group {n}'s 'params' is a {kind}, expected a list").format(
                n=n, kind=type(group["params"]).__name__),
                 _("a generator such as model.parameters() is used up by the first loop over it: make a list"))
        for p in group["params"]:
            if id(p) not in names:
                fail(case, _("group {n} holds a {kind} that is not a parameter of the model").format(
                    n=n, kind=type(p).__name__),
                     _("put the model's Parameters themselves in the groups (from model.parameters())"))
            seen.setdefault(id(p), []).append(group["weight_decay"])
    twice = [names[i] for i, decays in seen.items() if len(decays) > 1]
    if twice:
        fail(case, _("these parameters are in the groups more than once: {names}").format(names=", ".join(twice)),
             _("the head is tied to wte: it is one Parameter, and model.parameters() lists it once; "
               "build the groups from it (or from named_parameters()), not from state_dict()"),
             diagnosis=_("tied weight counted twice"))
    missing = [name for i, name in names.items() if i not in seen]
    if missing:
        fail(case, _("these parameters are in no group (they would never be trained): {names}").format(
            names=", ".join(missing)))
    wrong = {name: seen[i][0] for i, name in names.items()
             if seen[i][0] != (weight_decay if model.get_parameter(name).dim() >= 2 else 0.0)}
    if not wrong:
        return
    decayed = [name for name, wd in wrong.items() if model.get_parameter(name).dim() < 2]
    spared = [name for name in wrong if model.get_parameter(name).dim() >= 2]
    embeddings_only = spared and all(name.split(".")[-2] in ("wte", "wpe") for name in spared)
    diagnosis = _(DECAY_ALL) if decayed else _("embeddings not decayed") if embeddings_only else None
    fail(case, _("weight decay on the wrong parameters ({count} of {total})").format(
        count=len(wrong), total=len(names)),
         _("decayed, but 1-D (biases, LayerNorm gains and biases): {names}").format(names=", ".join(decayed[:6]))
         + (" …" if len(decayed) > 6 else "") if decayed else "",
         _("not decayed, but 2-D (weight matrices and embeddings): {names}").format(names=", ".join(spared[:6]))
         + (" …" if len(spared) > 6 else "") if spared else "",
         _("GPT-2's training (nanoGPT) decays every parameter with p.dim() >= 2 with weight_decay, and the "
           "others with 0.0"), diagnosis=diagnosis)


def test_param_groups(kata, device):
    shape, weight_decay = (97, 16, 32, 4, 3), 0.1
    models = {N_("your GPT2 (e06)"): None, N_("transformers' GPT2LMHeadModel"): ref_model(shape, 3, device)}
    models["your GPT2 (e06)"] = gpt2_like(kata, models["transformers' GPT2LMHeadModel"], describe(shape))
    for label, model in models.items():
        case = f"param_groups({_(label)}, {describe(shape)}, weight_decay={weight_decay})"
        model = learner_side(kata).receive(model)
        groups = kata.param_groups(model, weight_decay)
        check_groups(groups, model, weight_decay, case)
        try:
            torch_of(kata).optim.AdamW(groups, lr=1e-3)
        except (ValueError, TypeError) as error:
            fail(case, _("torch.optim.AdamW does not accept the groups: {error}").format(error=error))


# ---------------------------------------------------------------------------------------------
# The learning rate


def hf_schedule(max_lr, warmup_steps, max_steps, min_lr):
    """transformers' cosine schedule with a floor, as a function of the step (LambdaLR's factor)."""
    from transformers import get_cosine_with_min_lr_schedule_with_warmup

    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=max_lr)
    factor = get_cosine_with_min_lr_schedule_with_warmup(
        optimizer, num_warmup_steps=warmup_steps, num_training_steps=max_steps, min_lr=min_lr).lr_lambdas[0]
    return lambda step: max_lr * factor(step)


def expected_lrs(steps, max_lr, warmup_steps, max_steps, min_lr):
    """llm.c's schedule on transformers' curve: warmup one step ahead (step 0 already learns with
    max_lr / warmup_steps, where transformers starts at 0), then the same cosine, then min_lr for ever
    (where transformers' cosine would climb again)."""
    hf = hf_schedule(max_lr, warmup_steps, max_steps, min_lr)
    return [hf(step + 1) if step < warmup_steps else hf(step) if step <= max_steps else min_lr
            for step in steps]


def schedule(step, max_lr, warmup_steps, max_steps, min_lr, *, warmup="ahead", floor=True, after="constant",
             decay="cosine", origin="warmup"):
    """The schedule written out, with one classic mistake switched on at a time."""
    if warmup == "ahead" and step < warmup_steps:
        return max_lr * (step + 1) / warmup_steps
    if warmup == "from zero" and step < warmup_steps:
        return max_lr * step / warmup_steps
    if warmup == "nanoGPT" and step < warmup_steps:
        return max_lr * (step + 1) / (warmup_steps + 1)
    low = min_lr if floor else 0.0
    if step > max_steps and after == "constant":
        return low
    start = warmup_steps if origin == "warmup" and warmup != "none" else 0
    progress = (step - start) / (max_steps - start)
    shape = 0.5 * (1 + math.cos(math.pi * progress)) if decay == "cosine" else max(0.0, 1 - progress)
    return low + shape * (max_lr - low)


SCHEDULE_MISTAKES = {  # name: (flags of schedule(), hint); names and hints are translated where they are shown
    N_("warmup starts at 0"): ({"warmup": "from zero"}, N_("use max_lr * (step + 1) / warmup_steps: step 0 "
                               "already learns, and the last warmup step reaches max_lr")),
    N_("nanoGPT's warmup instead of llm.c's"): ({"warmup": "nanoGPT"}, N_("nanoGPT's train.py divides by "
                                                "warmup_steps + 1; this kata uses llm.c's max_lr * (step + 1) / "
                                                "warmup_steps, which reaches max_lr at the last warmup step")),
    N_("learning rate not warmed up"): ({"warmup": "none"}, N_("for step < warmup_steps, rise linearly: "
                                        "max_lr * (step + 1) / warmup_steps")),
    N_("decays to 0 instead of min_lr"): ({"floor": False}, N_("the cosine goes from max_lr down to min_lr: "
                                          "min_lr + coeff * (max_lr - min_lr)")),
    N_("cosine goes on after max_steps"): ({"after": "cosine"},
                                           N_("after max_steps the learning rate stays at min_lr")),
    N_("linear decay instead of cosine"): ({"decay": "linear"}, "coeff = 0.5 * (1 + cos(pi * progress))"),
    N_("decay measured from step 0"): ({"origin": "zero"}, N_("progress = (step - warmup_steps) / (max_steps - "
                                       "warmup_steps): the decay starts where the warmup ends")),
}

SCHEDULES = [  # max_lr, warmup_steps, max_steps, min_lr, steps
    pytest.param(6e-4, 10, 100, 6e-5, [*range(12), 50, 99, 100, 101, 150], id="nanoGPT-like"),
    pytest.param(1e-3, 1, 5, 0.0, list(range(9)), id="warmup1-min0"),
    pytest.param(3e-4, 2000, 20000, 3e-5, [0, 1, 999, 1998, 1999, 2000, 2001, 11000, 19999, 20000, 25000],
                 id="long-run"),
]


@pytest.mark.parametrize(("max_lr", "warmup_steps", "max_steps", "min_lr", "steps"), SCHEDULES)
def test_lr_at(kata, max_lr, warmup_steps, max_steps, min_lr, steps):
    args = (max_lr, warmup_steps, max_steps, min_lr)
    case = (f"lr_at(step, max_lr={max_lr}, warmup_steps={warmup_steps}, max_steps={max_steps}, "
            f"min_lr={min_lr}) for step in {steps}")
    got = []
    for step in steps:
        lr = kata.lr_at(step, *args)
        if not isinstance(lr, numbers.Real) or isinstance(lr, bool):
            fail(case, _("lr_at({step}, ...) returned a {kind}, expected a float").format(
                step=step, kind=type(lr).__name__),
                 _("compute it with Python numbers and the math module: optimizers want a float"))
        got.append(float(lr))
    as_tensor = lambda values: torch.tensor(values, dtype=torch.float64)  # noqa: E731
    mistakes = [Mistake(_(name), _(hint), as_tensor([schedule(s, *args, **flags) for s in steps]))
                for name, (flags, hint) in SCHEDULE_MISTAKES.items()]
    expect_close(as_tensor(got), as_tensor(expected_lrs(steps, *args)), case=case,
                 what=_("the learning rates (one per step, in that order)"), atol=1e-12, rtol=1e-9, mistakes=mistakes)


# ---------------------------------------------------------------------------------------------
# Training steps


def groups_of(model, weight_decay, decay_all=False):
    params = list(model.parameters())
    return [{"params": [p for p in params if p.dim() >= 2 or decay_all], "weight_decay": weight_decay},
            {"params": [p for p in params if p.dim() < 2 and not decay_all], "weight_decay": 0.0}]


def hf_training(ref, batches, lrs, make_optimizer, max_norm, weight_decay, *, zero_grad=True, clip="before",
                lr_groups="all", lr_late=False, decay_all=False):
    """The steps taken with GPT2LMHeadModel(labels=idx).loss; the keywords switch on classic mistakes.
    After each step: the loss, the weights and how far from them a correct step may land (by name)."""
    ref = copy.deepcopy(ref)
    optimizer = make_optimizer(groups_of(ref, weight_decay, decay_all))
    slack = AdamSlack(ref, atol=WEIGHT_ATOL, grad_noise=GRAD_NOISE, prefix="transformer.")
    losses, states, allowed = [], [], []
    for idx, lr in zip(batches, lrs):
        groups = optimizer.param_groups if lr_groups == "all" else optimizer.param_groups[:1]
        if not lr_late:
            for group in groups:
                group["lr"] = lr
        if zero_grad:
            optimizer.zero_grad()
        loss = ref(idx, labels=idx).loss
        loss.backward()
        if clip == "before":
            torch.nn.utils.clip_grad_norm_(ref.parameters(), max_norm)
        slack.before_step(optimizer)
        optimizer.step()
        slack.after_step(optimizer)
        if clip == "after":
            torch.nn.utils.clip_grad_norm_(ref.parameters(), max_norm)
        if lr_late:
            for group in groups:
                group["lr"] = lr
        losses.append(loss.item())
        states.append(weights(ref, prefix="transformer."))
        allowed.append(slack.allowed())
    return losses, states, allowed


TRAINING_MISTAKES = {  # name: (flags of hf_training(), hint); names and hints are translated where they are shown
    N_("zero_grad missing"): ({"zero_grad": False}, N_("call optimizer.zero_grad() before backward(): otherwise "
                              "each step's gradients are added to the previous ones")),
    # Clipping after optimizer.step() is the same as not clipping: the next zero_grad() drops what it did.
    NOT_CLIPPED: ({"clip": "none"}, N_("call torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm) "
                  "between loss.backward() and optimizer.step(): clipping after the step changes gradients "
                  "that are never used again")),
    N_("learning rate set on the first group only"): ({"lr_groups": "first"}, N_("set group['lr'] = lr for every "
                                                      "group in optimizer.param_groups")),
    N_("learning rate set after the step"): ({"lr_late": True},
                                             N_("set the learning rate first: this step must use it")),
    DECAY_ALL: ({"decay_all": True}, N_("param_groups: weight decay only on parameters with dim >= 2")),
}


def weights(model, prefix=""):
    """The weights by name (your GPT2's names)."""
    return {name.removeprefix(prefix): p.detach().clone() for name, p in model.named_parameters()}


def distance(a, b, allowed):  # the largest difference, in units of each weight's tolerance
    return max(((a[name] - b[name]).abs() / tolerance).max().item() for name, tolerance in allowed.items())


def expect_loss(loss, expected, *, case, step, variants):
    """The loss train_step returned is GPT-2's on this batch; else a classic mistake's name when its loss
    is this one (weights within their tolerance after a step can still give another loss at the next)."""
    close = lambda a, b: abs(a - b) <= LOSS_ATOL + LOSS_RTOL * abs(b)  # noqa: E731
    if close(loss, expected):
        return
    what = _("train_step returned a loss {distance:.2e} away from GPT-2's on this batch").format(
        distance=abs(loss - expected))
    for name, (hint, other, *_rest) in variants().items():
        if not close(other, expected) and close(loss, other) and abs(loss - other) < abs(loss - expected):
            fail(case, what, _("this looks like a classic mistake: {name}").format(name=_(name)),
                 _("hint: {hint}").format(hint=_(hint)), diagnosis=_(name))
    fail(case, what, _("return the loss of this batch, computed before the step: lm_loss(model(idx), idx).item() "
                       "(lm_loss has its own check)"), _("if it is, the earlier steps moved the weights a little "
         "differently from GPT-2's: check the order of the calls in train_step") if step else "")


def expect_weights(got, expected, allowed, *, case, variants):
    """Every weight within its tolerance of GPT-2's; else the worst ones, and a classic mistake's name
    when it explains the difference: within 10 tolerances of it, and nearer to it than to GPT-2's."""
    off = {name: (got[name] - tensor).abs().max().item() for name, tensor in expected.items()
           if ((got[name] - tensor).abs() > allowed[name]).any()}
    if not off:
        return
    worst = sorted(off.items(), key=lambda item: -item[1])[:4]
    lines = [_("{count} of {total} parameters differ from GPT-2's by more than {atol:.0e} "
               "(more for weights whose gradients are about 0, where Adam magnifies float32 rounding); "
               "the largest errors:").format(count=len(off), total=len(expected), atol=WEIGHT_ATOL),
             *(f"  {name}: {e:.2e}" for name, e in worst)]
    far = distance(got, expected, allowed)
    for name, (hint, state, own) in variants().items():
        tolerance = {n: torch.maximum(allowed[n], own[n]) for n in allowed}
        if distance(state, expected, tolerance) <= 1:
            continue  # this mistake makes no difference here
        near = distance(got, state, tolerance)
        if near <= 10 and near < far:
            fail(case, _("the weights after train_step differ from GPT-2's"), *lines,
                 _("this looks like a classic mistake: {name}").format(name=_(name)),
                 _("hint: {hint}").format(hint=_(hint)), diagnosis=_(name))
    fail(case, _("the weights after train_step differ from GPT-2's"), *lines)


def adamw(groups, torch=torch):
    return torch.optim.AdamW(groups, lr=0.1, betas=(0.9, 0.95), eps=1e-8)


def sgd(groups, torch=torch):
    return torch.optim.SGD(groups, lr=0.1, momentum=0.9)


TRAINING = [  # optimizer, learning rates (one per step), max_norm, weight_decay
    pytest.param(adamw, [1e-3, 3e-3, 2e-3], 1.0, 0.1, id="AdamW-3-steps"),
    pytest.param(sgd, [0.05, 0.1], 0.25, 0.1, id="SGD-momentum-2-steps-clipping"),
]


@pytest.mark.parametrize(("make_optimizer", "lrs", "max_norm", "weight_decay"), TRAINING)
def test_train_step(kata, device, seed, make_optimizer, lrs, max_norm, weight_decay):
    shape, (B, T) = (97, 16, 32, 4, 2), (4, 16)
    case_seed = 1000 * seed + len(lrs)
    name = "AdamW(betas=(0.9, 0.95), eps=1e-8)" if make_optimizer is adamw else "SGD(momentum=0.9)"
    case = _("{calls} calls of train_step({model}, {optimizer} built with lr=0.1 on your "
             "param_groups(model, {weight_decay}), idx of shape ({B}, {T}), max_norm={max_norm}, lr={lrs}), "
             "seed {seed}").format(calls=len(lrs), model=describe(shape), optimizer=name, weight_decay=weight_decay,
                                   B=B, T=T, max_norm=max_norm, lrs=lrs, seed=case_seed)
    ref = ref_model(shape, case_seed, device)
    model = gpt2_like(kata, ref, case).train()
    optimizer = make_optimizer(kata.param_groups(model, weight_decay), torch_of(kata))  # the learner's side
    g = reference.generator(case_seed)
    batches = [torch.randint(0, shape[0], (B, T), generator=g).to(device) for _ in lrs]
    run = lambda **flags: hf_training(ref, batches, lrs, make_optimizer, max_norm, weight_decay, **flags)  # noqa: E731
    losses, states, allowed = run()
    for step, (idx, lr) in enumerate(zip(batches, lrs)):
        where = _("{case}: step {step}").format(case=case, step=step + 1)
        loss = kata.train_step(model, optimizer, idx, max_norm, lr)
        if isinstance(loss, torch.Tensor) and loss.numel() == 1:
            loss = loss.item()
        if not isinstance(loss, numbers.Real):
            fail(where, _("train_step returned a {kind}, expected the loss as a float").format(
                kind=type(loss).__name__),
                 "return loss.item()")
        variants = lambda: {mistake: (hint, *(trajectory[step] for trajectory in run(**flags)))  # noqa: E731
                            for mistake, (flags, hint) in TRAINING_MISTAKES.items()}
        expect_loss(loss, losses[step], case=where, step=step, variants=variants)
        expect_weights(weights(model), states[step], allowed[step], case=where,
                       variants=lambda: {name: (hint, *rest) for name, (hint, _, *rest) in variants().items()})
