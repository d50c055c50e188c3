"""A friendly word before grading: imports the course does not allow, found by reading the code.

The grade's security does not rest here: the submission's code runs in a sandbox where
transformers, the solutions and the grader are not there to import (gpt2lab.teacher). This check
only says *why* early and in the learner's terms, in `nox -s check` (a warning) and in grading
(the exercise is refused without running it): an exercise file that imports Hugging Face's GPT-2,
its tokenizers, the solutions, the grader or the suites. The one use of Hugging Face a kata asks
for is in LOADERS (e06 reads OpenAI's checkpoint with transformers' loader).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from gpt2lab.i18n import N_, _

# Top-level modules an exercise may not import, and why (the learner reads this sentence, translated
# when a Violation is made).
FORBIDDEN_MODULES: dict[str, str] = {
    "transformers": N_("Hugging Face's GPT-2 is what your code is compared with: calling it is not "
                       "implementing the exercise"),
    "tokenizers": N_("Hugging Face's tokenizers are the reference of the tokenizer exercise"),
    "tiktoken": N_("OpenAI's tokenizer is the reference of the tokenizer exercise"),
    "huggingface_hub": N_("the exercises build GPT-2 themselves, nothing is downloaded"),
    "solutions": N_("the reference solutions are not yours to import"),
    "gpt2lab": N_("gpt2lab builds the references and the verdicts your code is graded by"),
    "tests": N_("the hidden suites are not yours to import"),
}

# Exercise files that may import transformers after all: e06 loads OpenAI's checkpoint with it.
LOADERS: dict[str, frozenset[str]] = {"e06_gpt2": frozenset({"transformers"})}


@dataclass(frozen=True)
class Violation:
    """One reason a submission's exercise is refused."""

    file: str  # relative to the submission, e.g. "exercises/e02_mlp.py"
    line: int
    what: str  # "imports transformers", in the learner's language
    why: str  # the explanation meant for the learner, in their language

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.what} — {self.why}"

    def as_dict(self) -> dict:
        return {"file": self.file, "line": self.line, "message": f"{self.what} — {self.why}"}


def _imports(tree: ast.AST):
    """(node, module name) for every absolute import, and for __import__("literal")."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((node, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            yield node, node.module
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "__import__" \
                and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            yield node, node.args[0].value


def scan_source(source: str, file: str, package: str = "exercises") -> list[Violation]:
    """The imports of one file that the course does not allow; `file` (its path in the submission)
    names it in messages and, through its stem, says which LOADERS allowance applies."""
    try:
        tree = ast.parse(source, filename=file)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []  # the suite reports why the file cannot be imported, with the line
    allowed = LOADERS.get(Path(file).stem, frozenset())
    found = []
    for node, name in _imports(tree):
        top = name.partition(".")[0]
        if top in FORBIDDEN_MODULES and top not in allowed and top != package:
            found.append(Violation(file, getattr(node, "lineno", 0), _("imports {module}").format(module=name),
                                   _(FORBIDDEN_MODULES[top])))
    return sorted(set(found), key=lambda v: (v.line, v.what))


def local_imports(path: Path, package: str = "exercises") -> set[str]:
    """Names of the learner's modules that the file at `path` imports (relative or by package)."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return set()
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:  # from .e02_mlp import / from . import
            names |= {node.module.split(".")[0]} if node.module else {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module \
                and node.module.split(".")[0] == package:  # from exercises.e02_mlp import ...
            rest = node.module.split(".")[1:]
            names |= {rest[0]} if rest else {a.name for a in node.names}
        elif isinstance(node, ast.Import):  # import exercises.e02_mlp
            names |= {a.name.split(".")[1] for a in node.names
                      if a.name.split(".")[0] == package and "." in a.name}
    return names


def scan(package_dir: Path, module: str, *, relative_to: Path | None = None) -> list[Violation]:
    """The check of one exercise: its file and, transitively, the learner's files it imports."""
    package = package_dir.name
    base = relative_to or package_dir.parent
    seen: set[str] = set()
    todo = [module]
    found: list[Violation] = []
    while todo:
        name = todo.pop()
        path = package_dir / f"{name}.py"
        if name in seen or not path.is_file():
            continue
        seen.add(name)
        rel = path.relative_to(base).as_posix()
        try:
            source = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            found.append(Violation(rel, 0, _("is not UTF-8 text"), _("save the file as UTF-8")))
            continue
        found += scan_source(source, rel, package)
        todo += sorted(local_imports(path, package) - seen)
    return found
