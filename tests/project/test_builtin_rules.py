"""The teacher's rules on built-ins (gpt2lab/builtin_rules.py, [builtins] in grading.toml): e01 written
with F.layer_norm or e04 with scaled_dot_product_attention is refused, with an explanation, unless
the teacher's grading.toml allows it; legitimate code, comments and docstrings are not refused."""

import io
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gpt2lab import builtin_rules, catalog, check
from gpt2lab.builtin_rules import load, refused, scan
from gpt2lab.report import Style, render
from gpt2lab.watch import Watcher
from tests.project.conftest import copy_repository, make_package, stubs_root

ROOT = check.ROOT
RULES = load()
LAYER_NORM_LESSON = "write LayerNorm from its operations (mean, biased variance, eps inside the root)"

E01_WITH_LAYER_NORM = '''
"""e01 — the docstring may say F.layer_norm: a name in a docstring is not a use."""
import torch
import torch.nn.functional as F
from torch import nn


class LayerNorm(nn.Module):
    def __init__(self, n_embd: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(n_embd))
        self.bias = nn.Parameter(torch.zeros(n_embd))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # not F.layer_norm by hand: a comment is not a use either
        return F.layer_norm(x, x.shape[-1:], self.weight, self.bias, self.eps)
'''

E04_WITH_SDPA = '''
import torch.nn.functional as F
from torch import nn

from .e02_mlp import Conv1D
from .e03_heads import merge_heads, split_heads


class CausalSelfAttention(nn.Module):
    def forward(self, x):
        q, k, v = (split_heads(t, self.n_head) for t in self.c_attn(x).chunk(3, dim=-1))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(merge_heads(y))
'''


def names(found: list[dict]) -> list[tuple[int, str]]:
    return [(f["line"], f["name"]) for f in found]


def rules_from(tmp_path: Path, toml: str) -> dict:
    path = tmp_path / "grading.toml"
    path.write_text(textwrap.dedent(toml))
    return load(path)


def test_every_exercise_has_its_list_in_grading_toml():
    assert set(RULES) == set(catalog.BY_ID)
    assert {"torch.nn.functional.layer_norm", "torch.layer_norm", "torch.nn.LayerNorm"} <= set(RULES["e01"].refuse)
    assert {"torch.nn.functional.gelu", "torch.nn.GELU"} <= set(RULES["e02"].refuse)
    assert {"torch.nn.functional.scaled_dot_product_attention",
            "torch.nn.MultiheadAttention"} <= set(RULES["e04"].refuse)
    assert {"tiktoken", "tokenizers"} <= set(RULES["e09"].refuse)
    # e10's docstring asks for these by name: they must stay allowed
    assert not {"torch.nn.functional.cross_entropy", "torch.nn.utils.clip_grad_norm_"} & set(RULES["e10"].refuse)
    assert all(rule.lesson and rule.lesson_es for rule in RULES.values())


@pytest.mark.parametrize("exercise, source, name", [
    ("e01", E01_WITH_LAYER_NORM, "F.layer_norm"),
    ("e04", E04_WITH_SDPA, "F.scaled_dot_product_attention"),
])
def test_refused_by_default_and_allowed_when_the_teacher_says_so(tmp_path, exercise, source, name):
    assert [f["name"] for f in refused(exercise, source, RULES)] == [name]
    allowed = rules_from(tmp_path, f"""
        [builtins.{exercise}]
        lesson = "write it"
        refuse = []
        """)
    assert refused(exercise, source, allowed) == []
    assert refused(exercise, source, rules_from(tmp_path, "[points]\ndefault = 10\n")) == []  # no [builtins]


def test_the_message_names_the_lesson_and_what_did_it():
    [found] = refused("e01", E01_WITH_LAYER_NORM, RULES)
    assert found == {
        "file": "exercises/e01_layer_norm.py", "line": 17, "name": "F.layer_norm",
        "rule": "torch.nn.functional.layer_norm",
        "message": f"e01 asks you to {LAYER_NORM_LESSON}: F.layer_norm does it for you."}


def test_the_message_is_in_the_learners_language(monkeypatch):
    """The teacher's own lesson_es from grading.toml, inside the catalogue's wording."""
    spanish = ("e01 te pide escribir LayerNorm con sus operaciones (media, varianza sesgada, eps dentro de la "
               "raíz): F.layer_norm lo hace por ti.")
    assert refused("e01", E01_WITH_LAYER_NORM, RULES, lang="es")[0]["message"] == spanish
    monkeypatch.setenv("GPT2LAB_LANG", "es")  # what `--lang es` sets
    assert refused("e01", E01_WITH_LAYER_NORM, RULES)[0]["message"] == spanish


def test_a_table_without_lessons_still_explains_in_spanish(tmp_path):
    rules = rules_from(tmp_path, """
        [builtins.e01]
        refuse = ["torch.nn.functional.layer_norm"]
        """)
    [found] = refused("e01", E01_WITH_LAYER_NORM, rules, lang="es")
    assert found["message"] == "e01 te pide escribirlo tú: F.layer_norm lo hace por ti."
    [found] = refused("e01", E01_WITH_LAYER_NORM, rules, lang="en")
    assert found["message"] == "e01 asks you to write it yourself: F.layer_norm does it for you."


def test_a_teacher_can_tighten_a_list(tmp_path):
    source = ("from einops import rearrange\n\n"
              "def split_heads(x, n):\n    return rearrange(x, 'b t (h d) -> b h t d', h=n)\n")
    assert refused("e03", source, RULES) == []  # the default allows einops in e03
    strict = rules_from(tmp_path, """
        [builtins.e03]
        lesson = "split the heads with view and transpose"
        refuse = ["einops"]
        """)
    found = refused("e03", source, strict)
    assert names(found) == [(1, "einops.rearrange"), (4, "rearrange (einops.rearrange)")]
    assert found[0]["message"] == ("e03 asks you to split the heads with view and transpose: "
                                   "einops.rearrange does it for you.")


SPELLINGS = {
    "F.layer_norm": ("import torch.nn.functional as F\ny = F.layer_norm(x, (4,))", [(2, "F.layer_norm")]),
    "full path": ("import torch\ny = torch.nn.functional.layer_norm(x, (4,))",
                  [(2, "torch.nn.functional.layer_norm")]),
    "import of the module": ("import torch.nn.functional\ny = torch.nn.functional.layer_norm(x, (4,))",
                             [(2, "torch.nn.functional.layer_norm")]),
    "alias": ("import torch.nn.functional as fun\ny = fun.layer_norm(x, (4,))", [(2, "fun.layer_norm")]),
    "from torch.nn import functional": ("from torch.nn import functional\ny = functional.layer_norm(x, (4,))",
                                        [(2, "functional.layer_norm")]),
    "from-import as": ("from torch.nn.functional import layer_norm as ln\ny = ln(x, (4,))",
                       [(1, "torch.nn.functional.layer_norm"), (2, "ln (torch.nn.functional.layer_norm)")]),
    "star import": ("from torch.nn.functional import *\ny = layer_norm(x, (4,))",
                    [(2, "layer_norm (torch.nn.functional.layer_norm)")]),
    "nn.LayerNorm": ("from torch import nn\nnorm = nn.LayerNorm(4)", [(2, "nn.LayerNorm")]),
    "subclass": ("from torch import nn\nclass LayerNorm(nn.LayerNorm):\n    pass", [(2, "nn.LayerNorm")]),
    "torch.layer_norm": ("import torch\ny = torch.layer_norm(x, (4,))", [(2, "torch.layer_norm")]),
    "torch's module layout": ("from torch.nn.modules.normalization import LayerNorm as L\nnorm = L(4)",
                              [(1, "torch.nn.modules.normalization.LayerNorm"),
                               (2, "L (torch.nn.modules.normalization.LayerNorm)")]),
    "getattr": ("import torch.nn.functional as F\ny = getattr(F, 'layer_norm')(x, (4,))",
                [(2, "torch.nn.functional.layer_norm")]),
    "inside a function": ("def forward(self, x):\n    import torch.nn.functional as F\n"
                          "    return F.layer_norm(x, x.shape[-1:])", [(3, "F.layer_norm")]),
    "a reference kept": ("import torch.nn.functional as F\nnorm = F.layer_norm", [(2, "F.layer_norm")]),
}


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_the_usual_spellings_are_caught(spelling):
    source, expected = SPELLINGS[spelling]
    assert names(refused("e01", source, RULES)) == expected


def test_modules_are_refused_whole_however_imported():
    source = ("import tiktoken\nimport importlib\nenc = tiktoken.get_encoding('gpt2')\n"
              "tok = importlib.import_module('tokenizers')\nfrom tokenizers import Tokenizer\n")
    assert names(refused("e09", source, RULES)) == [
        (1, "tiktoken"), (3, "tiktoken.get_encoding"), (4, "tokenizers"), (5, "tokenizers.Tokenizer")]
    source = "import torch\ndef lr(opt):\n    return torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)\n"
    assert names(refused("e10", source, RULES)) == [(3, "torch.optim.lr_scheduler.LambdaLR")]


NOT_USES = {
    "docstring and comment": ("e01", E01_WITH_LAYER_NORM.replace("return F.layer_norm", "return F.linear")),
    "strings": ("e01", "import torch.nn.functional as F\nname = 'F.layer_norm'\nprint(f'{name}: torch.layer_norm')"),
    "annotations": ("e01", "from torch import nn\n\ndef f(norm: nn.LayerNorm) -> nn.LayerNorm:\n"
                           "    x: nn.LayerNorm = norm\n    return x"),
    "the learner's own layer_norm": ("e01", "from torch.nn.functional import *\n\n"
                                            "def layer_norm(x):\n    return x\n\ny = layer_norm(1)"),
    "another exercise's list": ("e04", E01_WITH_LAYER_NORM),
    "e05 with e01's LayerNorm": ("e05", "from .e01_layer_norm import LayerNorm\nfrom torch import nn\n"
                                        "ln_1 = LayerNorm(4)\nln_2 = nn.LayerNorm(4)"),
    "e06 with nn.Embedding": ("e06", "from torch import nn\nwte = nn.Embedding(10, 4)"),
    "e10 with what it asks for": ("e10", "import torch.nn.functional as F\nfrom torch import nn\n"
                                         "loss = F.cross_entropy(a, b)\nnn.utils.clip_grad_norm_(p, 1.0)"),
    "a syntax error (the suite reports it)": ("e01", "import torch.nn.functional as F\nF.layer_norm(x,"),
}


@pytest.mark.parametrize("case", NOT_USES)
def test_legitimate_code_is_not_refused(case):
    exercise, source = NOT_USES[case]
    assert refused(exercise, source, RULES) == []


@pytest.mark.parametrize("exercise", catalog.EXERCISES, ids=lambda e: e.id)
def test_the_reference_solutions_are_not_refused(exercise):
    assert (ROOT / "solutions" / f"{exercise.module}.py").is_file()
    assert scan(ROOT / "solutions", exercise, RULES) == []
    assert scan(stubs_root() / "exercises", exercise, RULES) == []  # nor the stubs the learner starts from


# The alternative implementation shows that the suites accept any correct code, built-ins
# included: two of its files use exactly what the default rules refuse.
ALTERNATIVE_BUILTINS = {"e02": "torch.nn.functional.gelu",
                        "e04": "torch.nn.functional.scaled_dot_product_attention"}


def test_the_alternative_implementation_is_refused_only_for_its_two_built_ins():
    folder = ROOT / "tests" / "project" / "alternative"
    exercises = [e for e in catalog.EXERCISES if (folder / f"{e.module}.py").is_file()]
    assert len(exercises) == len(catalog.EXERCISES)
    found = {e.id: {f["rule"] for f in scan(folder, e, RULES)} for e in exercises}
    assert {i: rules for i, rules in found.items() if rules} == {i: {r} for i, r in ALTERNATIVE_BUILTINS.items()}
    loosened = dict(RULES)
    for i, rule in ALTERNATIVE_BUILTINS.items():
        loosened[i] = builtin_rules.Rule(i, tuple(r for r in RULES[i].refuse if r != rule))
    assert all(scan(folder, e, loosened) == [] for e in exercises)


@pytest.mark.parametrize("toml, complaint", [
    ("[builtins.e1]\nrefuse = []", "[builtins.e1]: no such exercise"),
    ("[builtins.e01]\nrefuse = 'torch.layer_norm'", "refuse must be a list of dotted names"),
    ("[builtins.e01]\nrefuse = ['F.layer_norm()']", "'F.layer_norm()'"),
    ("[builtins.e01]\nrefuses = []", "expected the keys lesson, lesson_es, refuse"),
    ("[builtins.e01]\nlesson = ''\nrefuse = []", "non-empty strings"),
    ("builtins = 3", "must be a table of exercises"),
])
def test_a_malformed_table_is_named(tmp_path, toml, complaint):
    with pytest.raises(ValueError, match=r"grading\.toml") as raised:
        rules_from(tmp_path, toml)
    assert complaint in str(raised.value)


def result_with(exercise: str, *statuses: str) -> check.ExerciseResult:
    return check.ExerciseResult(catalog.BY_ID[exercise], [
        {"exercise": exercise, "case": f"c{i}", "test": "test_forward", "phase": "call", "status": s, "message": "m"}
        for i, s in enumerate(statuses)])


WITH_LAYER_NORM = {"e01_layer_norm": [  # solutions/ edited: line 20 calls F.layer_norm
    ("import torch\n", "import torch\nimport torch.nn.functional as F\n"),
    ("return x_hat * self.weight + self.bias", "return F.layer_norm(x, x.shape[-1:], self.weight, self.bias)")]}


def test_check_shows_a_refused_exercise_as_failing_with_the_explanation(tmp_path):
    package = make_package(tmp_path, ROOT / "solutions", WITH_LAYER_NORM)
    results = [result_with("e01", "passed", "passed"), result_with("e05", "passed", "failed")]
    builtin_rules.mark(results, tmp_path, package, lang="en")
    e01, e05 = results
    assert e01.status == check.FAILING and e01.passed == 2 and e05.blocked_by == ("e01",)
    problem = e01.first_problem()
    assert problem["test"] == builtin_rules.TEST and problem["refused"][0]["name"] == "F.layer_norm"
    text = render(results, header="h", style=Style(colour=False, unicode=False))
    assert f"e01 asks you to {LAYER_NORM_LESSON}: F.layer_norm does it for you." in text
    assert f"{package}/e01_layer_norm.py:20    return F.layer_norm(x, x.shape[-1:], self.weight, self.bias)" in text
    assert "The grader refuses e01 too while its file uses it ([builtins.e01] in grading.toml)." in text
    builtin_rules.mark(spanish := [result_with("e01", "passed")], tmp_path, package, lang="es")
    assert "F.layer_norm lo hace por ti." in spanish[0].first_problem()["message"]


def test_check_goes_on_without_rules_when_the_table_is_malformed(tmp_path, capsys):
    (tmp_path / "grading.toml").write_text("[builtins.e01]\nrefuse = 3\n")
    results = [result_with("e04", "passed")]
    builtin_rules.mark(results, tmp_path, "exercises", lang="en")
    assert results[0].status == check.PASSED
    assert "the rules on built-ins are not applied" in capsys.readouterr().err


def test_watch_mode_applies_the_rules_too(tmp_path, monkeypatch):
    monkeypatch.setenv("LC_ALL", "C.UTF-8")  # the learner's language comes from the locale
    package = make_package(tmp_path, ROOT / "solutions", WITH_LAYER_NORM)
    out = io.StringIO()
    watcher = Watcher([catalog.BY_ID["e01"], catalog.BY_ID["e03"]], impl=package, root=tmp_path, device="cpu",
                      out=out, clear=False)
    assert watcher.run(max_runs=1) == 1
    assert watcher.results["e01"].status == check.FAILING and watcher.results["e03"].status == check.PASSED
    assert "F.layer_norm does it for you" in out.getvalue()


def test_nox_check_on_a_repository_whose_e01_uses_f_layer_norm(tmp_path):
    repo = copy_repository(tmp_path / "kata", commit=False)  # the stubs as shipped, not a learner's work
    (repo / "exercises" / "e01_layer_norm.py").write_text(E01_WITH_LAYER_NORM)
    done = subprocess.run([sys.executable, "-m", "gpt2lab", "check", "e01", "--device", "cpu"], cwd=repo,
                          capture_output=True, text=True, timeout=300, env=dict(os.environ, LC_ALL="C.UTF-8"))
    output = done.stdout + done.stderr
    assert done.returncode == 1 and "Traceback" not in output, output
    assert "e01  LayerNorm over the embedding dimension" in output and "failing" in output, output
    assert f"e01 asks you to {LAYER_NORM_LESSON}: F.layer_norm does it for you." in output
    assert "exercises/e01_layer_norm.py:17" in output


def test_reading_the_rules_does_not_import_torch():
    code = ("import sys; from gpt2lab import builtin_rules as b, catalog; rules = b.load(); "
            "b.scan(b.ROOT / 'solutions', catalog.BY_ID['e04'], rules); assert 'torch' not in sys.modules")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
