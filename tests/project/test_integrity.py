"""The hidden suites refuse what does not implement the exercise (gpt2lab/integrity.py).

The static check on source snippets, the runtime guard in this process on small learner modules,
and the grader end to end on hostile submissions: an exercise that uses Hugging Face's GPT-2 scores
zero with an explanation, an infinite loop or a huge tensor fails only its exercise.
"""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import sys
import textwrap

import pytest
import torch

from gpt2lab import catalog, grading, integrity
from tests.project.conftest import ROOT, make_submission

SOLUTION_GELU = "return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))"
SPLIT = "    B, T, C = x.shape\n    x = x.view(B, T, n_head, C // n_head)"


# ---------------------------------------------------------------------------------------------
# The static check
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("folder", ["exercises", "solutions", "tests/project/alternative",
                                    "tests/project/hf_port"])
def test_the_course_itself_passes_the_static_check(folder):
    package = ROOT / folder
    for exercise in catalog.EXERCISES:
        if (package / f"{exercise.module}.py").exists():
            assert integrity.scan(package, exercise.module) == [], (folder, exercise.id)


REFUSED = {
    "import transformers": "imports transformers",
    "from transformers.models.gpt2 import modeling_gpt2": "imports transformers.models.gpt2",
    "import importlib\nm = importlib.import_module('transformers.models.gpt2')": "through import_module",
    "m = __import__('transformers')": "imports transformers through __import__",
    "m = __import__('tor' + 'ch')": "calls __import__()",
    "from solutions.e01_layer_norm import LayerNorm": "imports solutions.e01_layer_norm",
    "from gpt2lab import reference": "imports gpt2lab",
    "import tests.katas.test_e04_attention as suite": "imports tests.katas",
    "import pytest": "imports pytest",
    "import tokenizers": "imports tokenizers",
    "exec('x = 1')": "calls exec()",
    "import torch\ntorch.allclose = lambda *a, **k: True": "assigns to torch.allclose",
    "import torch\nT = torch.Tensor\nT.__eq__ = None": "assigns to T.__eq__",
    "from torch import nn\nsetattr(nn.Module, '__call__', None)": "changes an attribute of nn.Module",
    "import torch\nobject.__setattr__(torch, 'x', 1)": "changes an attribute of torch",
    "import sys\nsys.modules['gpt2lab.verdict']": "uses sys.modules",
    "import torch\ntorch.sys.modules": "uses sys.modules",
    "import os\nos._exit(0)": "uses os._exit",
    "from os import _exit": "imports os._exit",
    "import torch\nf = torch.allclose.__code__": "uses .__code__",
    "import threading": "imports threading",
}


@pytest.mark.parametrize("source", list(REFUSED), ids=[f"refused-{i}" for i in range(len(REFUSED))])
def test_static_check_refuses(source):
    found = integrity.scan_source(source, "exercises/e02_mlp.py")
    assert any(REFUSED[source] in v.what for v in found), [str(v) for v in found]
    assert all(v.file == "exercises/e02_mlp.py" and v.line >= 1 and v.why for v in found)


ACCEPTED = [
    "import torch\nx = torch.zeros(3)\nx[0] = 1",  # a tensor assigned into: not a monkeypatch
    "import torch\nfrom torch import nn\nclass A(nn.Module):\n"
    "    def f(self):\n        self.w = nn.Parameter(torch.ones(2))",
    "import math, json, regex, copy\nfrom pathlib import Path\nfrom dataclasses import dataclass",
    "from .e02_mlp import Conv1D\nfrom . import e03_heads",
    "import torch\nmodel = torch.nn.Linear(2, 2)\nmodel.eval()",
]


@pytest.mark.parametrize("source", ACCEPTED, ids=[f"accepted-{i}" for i in range(len(ACCEPTED))])
def test_static_check_accepts_honest_code(source):
    assert integrity.scan_source(source, "exercises/e02_mlp.py") == []


def test_static_check_follows_the_learners_imports(tmp_path):
    """e04 imports the learner's e02: a transformers import there refuses e04 too, naming e02."""
    package = tmp_path / "exercises"
    package.mkdir()
    (package / "e02_mlp.py").write_text("from transformers.activations import NewGELUActivation\n")
    (package / "e04_attention.py").write_text("from .e02_mlp import NewGELUActivation\n")
    found = integrity.scan(package, "e04_attention")
    assert [(v.file, v.line) for v in found] == [("exercises/e02_mlp.py", 1)]


def test_only_e06_may_load_a_checkpoint_with_transformers():
    source = ("def f(path):\n    from transformers import GPT2LMHeadModel\n"
              "    return GPT2LMHeadModel.from_pretrained(path)\n")
    assert integrity.scan_source(source, "exercises/e06_gpt2.py") == []
    assert integrity.scan_source(source, "exercises/e05_block.py") != []
    assert set(integrity.LOADERS) <= {e.module for e in catalog.EXERCISES}


# ---------------------------------------------------------------------------------------------
# The runtime guard, in this process
# ---------------------------------------------------------------------------------------------

_names = itertools.count()


@pytest.fixture
def learner(tmp_path):
    """learner(source) -> a module of a fresh learner package, and the guard that watches it."""
    made = []

    def load(source: str):
        name = f"learner_pkg_{next(_names)}"
        package = tmp_path / name
        package.mkdir()
        (package / "__init__.py").write_text("")
        (package / "mod.py").write_text(textwrap.dedent(source))
        strict = tmp_path / "solutions"
        strict.mkdir(exist_ok=True)
        (strict / "reference_solution.py").write_text("def layer_norm(x):\n    return x\n")
        boundary = [ROOT / "tests", ROOT / "gpt2lab" / "reference.py", ROOT / "gpt2lab" / "tokenizer.py"]
        guard = integrity.Guard(package, [integrity.package_dir("transformers")], [strict], boundary)
        sys.path.insert(0, str(tmp_path))
        made.append(name)
        module = importlib.import_module(f"{name}.mod")
        spec = importlib.util.spec_from_file_location("reference_solution", strict / "reference_solution.py")
        solution = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(solution)
        return module, guard, solution

    yield load
    sys.path.remove(str(tmp_path))
    for name in made:
        for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
            del sys.modules[key]


def guarded(guard: integrity.Guard, call):
    """Run call() with the guard armed; return (result or exception, what was tampered with)."""
    guard.install()
    guard.arm()
    try:
        outcome = call()
    except integrity.IntegrityError as error:
        outcome = error
    finally:
        tampered = guard.disarm()
        guard.uninstall()
    return outcome, tampered


def test_runtime_refuses_an_import_however_it_is_spelled(learner):
    module, guard, _ = learner("""
        def sneaky():
            return __import__("trans" + "formers.activations", fromlist=["x"])
    """)
    outcome, _ = guarded(guard, module.sneaky)
    assert isinstance(outcome, integrity.IntegrityError)
    [violation] = guard.violations
    assert violation.what == "imports transformers.activations" and violation.line == 3


def test_runtime_refuses_a_hugging_face_module_built_by_the_learner(learner):
    from transformers.activations import NewGELUActivation

    module, guard, _ = learner("""
        def gelu(cls, x):
            return cls()(x)

        def run(module, x):
            return module(x)
    """)
    x = torch.randn(4)
    outcome, _ = guarded(guard, lambda: module.gelu(NewGELUActivation, x))
    assert isinstance(outcome, integrity.IntegrityError), outcome
    assert "runs a Hugging Face NewGELUActivation built at" in guard.violations[0].what
    # a module the test built and handed over (e07 generates from Hugging Face's model) may run
    guard.violations.clear()
    outcome, _ = guarded(guard, lambda: module.run(NewGELUActivation(), x))
    assert isinstance(outcome, torch.Tensor) and guard.violations == []


def test_runtime_allows_calling_a_handed_model_but_not_its_other_methods(learner):
    from transformers import GPT2Config, GPT2LMHeadModel

    module, guard, _ = learner("""
        def next_token(model, idx):
            return model(idx).logits[:, -1].argmax(-1)

        def shortcut(model, idx):
            return model.generate(idx, max_new_tokens=2, do_sample=False)
    """)
    config = GPT2Config(n_layer=1, n_embd=8, n_head=2, vocab_size=16, n_positions=8)
    model, idx = GPT2LMHeadModel(config).eval(), torch.zeros(1, 2, dtype=torch.long)
    outcome, _ = guarded(guard, lambda: module.next_token(model, idx))
    assert isinstance(outcome, torch.Tensor) and guard.violations == []
    outcome, _ = guarded(guard, lambda: module.shortcut(model, idx))
    assert isinstance(outcome, integrity.IntegrityError), outcome
    [violation] = guard.violations
    assert "on a Hugging Face model it was given" in violation.what and violation.line == 6


def test_runtime_refuses_hugging_face_functions_and_the_solutions(learner):
    from transformers.activations import get_activation

    module, guard, solution = learner("""
        def call(function, *args):
            return function(*args)
    """)
    outcome, _ = guarded(guard, lambda: module.call(get_activation, "gelu_new"))
    assert isinstance(outcome, integrity.IntegrityError) and "get_activation" in guard.violations[0].what
    outcome, _ = guarded(guard, lambda: module.call(solution.layer_norm, torch.ones(2)))
    assert isinstance(outcome, integrity.IntegrityError) and "layer_norm" in guard.violations[-1].what


def test_runtime_refuses_the_reference_builders_but_not_what_a_suite_hands_over(learner):
    from gpt2lab import reference

    module, guard, _ = learner("""
        def call(function, *args):
            return function(*args)
    """)
    guard.take_snapshot()  # learns which functions build references
    attention = reference.causal_attention(16, 2, 8, 1)  # built by the test: the learner may run it
    outcome, _ = guarded(guard, lambda: module.call(attention, reference.randn(1, 3, 16, seed=2)))
    assert isinstance(outcome, torch.Tensor) and guard.violations == []
    outcome, _ = guarded(guard, lambda: module.call(reference.layer_norm, 8, 1e-5, 1))
    assert isinstance(outcome, integrity.IntegrityError) and "layer_norm" in guard.violations[0].what


def test_runtime_notes_inputs_changed_in_place(learner):
    module, guard, _ = learner("""
        def zero(x):
            x.zero_()
            return x

        def honest(x):
            y = x.clone()
            y.zero_()
            return y
    """)
    guarded(guard, lambda: module.honest(torch.ones(3)))
    assert guard.mutations == []
    guarded(guard, lambda: module.zero(torch.ones(3)))
    assert guard.mutations == ["zero() changed its argument `x` in place"]


def test_runtime_fingerprint_sees_monkeypatching(learner):
    from gpt2lab import verdict

    module, guard, _ = learner("""
        def patch(torch, verdict):
            torch.allclose = lambda *args, **kwargs: True
            verdict.expect_close = lambda *args, **kwargs: None
    """)
    allclose, expect_close = torch.allclose, verdict.expect_close
    guard.install()  # as a grading process does: the import hooks, then the fingerprint
    guard.take_snapshot()
    try:
        guard.arm()
        module.patch(torch, verdict)
        tampered = guard.disarm()
    finally:
        torch.allclose, verdict.expect_close = allclose, expect_close
    assert "torch.allclose" in tampered and "gpt2lab.verdict.expect_close" in tampered
    assert guard.tampered() == []  # restored
    guard.uninstall()


def test_the_reference_runs_freely_under_the_guard(learner):
    """The suites' own use of Hugging Face's GPT-2 is never refused."""
    from gpt2lab import reference

    grading._warm_up_reference()  # as a grading process does before its fingerprint
    _, guard, _ = learner("x = 1\n")
    guard.install()
    guard.take_snapshot()
    guard.arm()
    try:
        outcome = reference.mlp(16, 3)(reference.randn(2, 3, 16, seed=1))
    finally:
        tampered = guard.disarm()
        guard.uninstall()
    assert isinstance(outcome, torch.Tensor) and tampered == [] and guard.violations == []


# ---------------------------------------------------------------------------------------------
# End to end: the grader on hostile submissions
# ---------------------------------------------------------------------------------------------

def by_id(grades):
    return {e["id"]: e for e in grades["exercises"]}


def test_cheating_scores_zero_and_an_infinite_loop_fails_only_its_exercise(tmp_path):
    submission = make_submission(tmp_path, edits={
        "e02_mlp": [(SOLUTION_GELU, "from transformers.activations import NewGELUActivation\n"
                                    "    return NewGELUActivation()(x)")],
        "e03_heads": [(SPLIT, "    B, T, C = x.shape\n    while True:\n        pass\n"
                              "    x = x.view(B, T, n_head, C // n_head)")],
    })
    grades = grading.grade(submission, [catalog.BY_ID[i] for i in ("e01", "e02", "e03")], seed=424242,
                           timeout=8, jobs=2, device="cpu")
    assert grading.validate(grades) == []
    e01, e02, e03 = by_id(grades).values()
    assert e01["status"] == "passed" and e01["points"] == e01["possible"] > 0
    assert e01["cases_passed"] == e01["cases"] > 5
    assert e02["status"] == "integrity" and e02["points"] == 0
    assert "transformers" in e02["explanation"]
    assert e02["violations"][0]["file"] == "exercises/e02_mlp.py" and e02["violations"][0]["line"] > 1
    assert e03["status"] == "timeout" and e03["points"] == 0
    assert "test_split_heads" in e03["explanation"] and "8 s" in e03["explanation"]
    assert grades["kata_seed"] == 424242
    assert grades["total"]["points"] == e01["possible"]


def test_the_runtime_guard_and_the_memory_limit_end_to_end(tmp_path):
    """With the static check off, the guard alone refuses an obfuscated import and an input
    zeroed in place; a huge tensor hits the memory limit."""
    submission = make_submission(tmp_path, edits={
        "e01_layer_norm": [("        mean = x.mean(dim=-1, keepdim=True)",
                            "        x.zero_()  # then LayerNorm(x) = bias, whatever x was\n"
                            "        return self.bias.expand(x.shape).clone()\n"
                            "        mean = x.mean(dim=-1, keepdim=True)")],
        "e02_mlp": [(SOLUTION_GELU, "activations = __import__('trans' + 'formers.activations', fromlist=['x'])\n"
                                    "    return activations.NewGELUActivation()(x)")],
        "e03_heads": [(SPLIT, "    B, T, C = x.shape\n    torch.ones(2**31)  # 8 GiB\n"
                              "    x = x.view(B, T, n_head, C // n_head)")],
    })
    grades = grading.grade(submission, [catalog.BY_ID[i] for i in ("e01", "e02", "e03")], seed=7,
                           timeout=60, memory=1024, jobs=2, device="cpu", static_check=False)
    assert grading.validate(grades) == []
    e01, e02, e03 = by_id(grades).values()
    assert e01["status"] == "failing" and "changed, in place, a tensor the test gave it" in e01["explanation"]
    assert e02["status"] == "integrity" and "imports transformers.activations" in e02["explanation"]
    assert e03["status"] == "memory" and "1024 MiB" in e03["explanation"]
    assert all(e["points"] == 0 for e in (e01, e02, e03))
