"""What a suite asks to be done next to the learner's code, where autograd graphs live.

When grading, the learner's tensors stay in the worker, so a gradient through them is taken
there; in `nox -s check` these run in the checker's process. Plain torch only: this file is part
of the worker's runtime. What comes back is plain data: values, flags, gradients.
"""

import torch

# torch's random initialisers, as tensor methods and in torch.nn.init (they dispatch to a mode by name)
RANDOM_FILLS = frozenset({
    "uniform_", "normal_", "trunc_normal_", "kaiming_uniform_", "kaiming_normal_", "xavier_uniform_",
    "xavier_normal_", "orthogonal_", "sparse_", "random_", "exponential_", "log_normal_", "cauchy_",
    "geometric_", "bernoulli_"})


class NaNInitialisers(torch.overrides.TorchFunctionMode):
    """Random initialisers fill with NaN instead: a memset in place of drawing millions of numbers
    (gpt2lab.learner.build_for_loading)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if getattr(func, "__name__", None) in RANDOM_FILLS:
            tensor = args[0] if args else next(v for v in kwargs.values() if isinstance(v, torch.Tensor))
            if tensor.is_floating_point():
                with torch.no_grad():
                    tensor.fill_(float("nan"))
                return tensor
        return func(*args, **kwargs)


def value_and_grads(fn, *args):
    """fn(*args), whether it depends on the arguments for autograd, and its gradient with respect
    to each argument that requires one (None for the others, or when there is no graph)."""
    out = fn(*args)
    wanted = [a for a in args if isinstance(a, torch.Tensor) and a.requires_grad]
    if not (isinstance(out, torch.Tensor) and out.requires_grad and wanted):
        return {"value": _plain(out), "requires_grad": False, "grads": [None] * len(args)}
    grads = iter(torch.autograd.grad(out, wanted, allow_unused=True))
    return {"value": out.detach(), "requires_grad": True,
            "grads": [next(grads) if isinstance(a, torch.Tensor) and a.requires_grad else None for a in args]}


def sum_of_squares_grads(module, x, names):
    """The gradient of sum(module(x) ** 2) for each named parameter (None: it gets none)."""
    (module(x) ** 2).sum().backward()
    return {name: getattr(module, name).grad for name in names}


def load_and_compare(load, model, state: dict, *, prefix: str = "", skip=()) -> dict:
    """load(model, state), then what the model holds: the checkpoint's names it has (without
    `prefix`, less `skip`), those whose values differ from the checkpoint's, and the parameters
    still NaN (never loaded). Only names come back, never the tensors (GPT-2 124M is 0.5 GB)."""
    load(model, state)
    with torch.no_grad():
        own = model.state_dict()
        compared = [n for n in (name.removeprefix(prefix) for name in state) if n in own and n not in skip]
        differs = [n for n in compared if not torch.equal(own[n].cpu(), state[prefix + n if prefix + n in state
                                                                               else n].cpu())]
        nan = [name for name, p in model.named_parameters() if name not in compared and p.isnan().any()]
    return {"compared": compared, "differs": differs, "nan": nan}


def receive(obj):
    """`obj` as the learner's code receives it: e10's GPT2LMHeadModel, rebuilt from its parameters
    when grading, so that the parameters in the learner's groups are the model's own."""
    return obj


def _plain(value):
    return value.detach() if isinstance(value, torch.Tensor) else value
