"""The friendly import check (gpt2lab/integrity.py): what the course does not allow an exercise to
import is said before anything runs, in `nox -s check` and in grading. (The grade's security is
the sandbox's: see test_sandbox.py.)"""

from __future__ import annotations

import pytest

from gpt2lab import catalog, integrity
from tests.project.conftest import ROOT, stubs_root


@pytest.mark.parametrize("folder", ["exercises", "solutions", "tests/project/alternative", "tests/project/hf_port"])
def test_the_course_itself_passes_the_static_check(folder):
    package = stubs_root() / folder if folder == "exercises" else ROOT / folder  # the stubs as shipped
    for exercise in catalog.EXERCISES:
        if (package / f"{exercise.module}.py").exists():
            assert integrity.scan(package, exercise.module) == [], (folder, exercise.id)


REFUSED = {
    "import transformers": "imports transformers",
    "from transformers.models.gpt2 import modeling_gpt2": "imports transformers.models.gpt2",
    "m = __import__('transformers')": "imports transformers",
    "from solutions.e01_layer_norm import LayerNorm": "imports solutions.e01_layer_norm",
    "from gpt2lab import reference": "imports gpt2lab",
    "import tests.katas.test_e04_attention as suite": "imports tests.katas.test_e04_attention",
    "import tokenizers": "imports tokenizers",
    "def f():\n    import tiktoken": "imports tiktoken",
}


@pytest.mark.parametrize("source", list(REFUSED), ids=[f"refused-{i}" for i in range(len(REFUSED))])
def test_static_check_refuses(source):
    found = integrity.scan_source(source, "exercises/e02_mlp.py")
    assert any(REFUSED[source] == v.what for v in found), [str(v) for v in found]
    assert all(v.file == "exercises/e02_mlp.py" and v.line >= 1 and v.why for v in found)


@pytest.mark.parametrize("source", [
    "import torch\nfrom torch import nn\nimport math, json, regex, copy, einops",
    "from .e02_mlp import Conv1D\nfrom . import e03_heads\nimport exercises.e01_layer_norm",
    '"""import transformers is not allowed"""\n# import transformers',
    "x = 1 +",  # does not parse: the suite says so, with the line
    "x = " + "+".join(["1"] * 200_000),  # too deep for the parser: not this check's business either
])
def test_static_check_accepts_what_it_is_not_about(source):
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
