"""Build the repository handed to students: stubs, suites and machinery, no solutions, one commit.

`nox -s student -- OUTDIR` copies the files git knows in this repository (committed or not, minus
what .gitignore ignores), leaves out what is the teacher's alone (TEACHER_ONLY: the solutions, the
repository's own tests with their mutants and alternative implementations, the benchmarks, CI),
drops the READMEs' teacher-only passages (`student_readme`), checks that no solution's code made it through
(`leaks`), and makes a fresh git repository with one commit.

The suites (tests/katas) are shipped: the learner's `nox -s check` needs them, and they hold no
answer (every expected value is computed at run time from Hugging Face's GPT-2). Grades never come
from the student's copy of them: see gpt2lab/teacher/grade.py.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent

# Paths (relative, POSIX) that stay with the teacher: a file is left out when its path is one of
# these or lies below one.
TEACHER_ONLY = ("solutions", "tests/project", "benchmarks", ".ci")
# Workflows other than the classroom's are the teacher repository's own CI.
KEEP_WORKFLOWS = (".github/workflows/classroom.yml",)
# In the READMEs, what is the teacher's alone: passages between <!-- teacher-only --> and
# <!-- /teacher-only --> (the "For teachers" section), and lines that end with <!-- teacher -->
# (a mention of solutions/; an HTML comment renders as nothing, also at the end of a table row).
TEACHER_BLOCK = re.compile(r"^<!-- teacher-only -->$.*?^<!-- /teacher-only -->$\n?", re.S | re.M)
TEACHER_LINE = re.compile(r"^.*<!-- teacher -->[ \t]*\n", re.M)


def student_readme(text: str) -> str:
    """A README without its teacher-only passages and lines."""
    return TEACHER_LINE.sub("", TEACHER_BLOCK.sub("", text))


def files(source: Path = ROOT) -> list[str]:
    """What git knows of `source` (tracked and untracked, .gitignore respected), minus TEACHER_ONLY."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=source, capture_output=True, check=True).stdout.decode().split("\0")
    keep = []
    for name in sorted(set(filter(None, listed))):
        if any(name == p or name.startswith(p + "/") for p in TEACHER_ONLY):
            continue
        if name.startswith(".github/workflows/") and name not in KEEP_WORKFLOWS:
            continue
        if (source / name).is_file():  # deleted but still in the index: gone
            keep.append(name)
    return keep


def build(outdir: Path, source: Path = ROOT) -> Path:
    """Write the student repository to `outdir` (which must not exist, or be empty); return it."""
    outdir = Path(outdir).resolve()
    if outdir.exists() and any(outdir.iterdir()):
        raise FileExistsError(f"{outdir} exists and is not empty: give a new directory")
    if outdir == source or source in outdir.parents:
        raise ValueError(f"{outdir} is inside the repository it is built from: give a directory outside it")
    for name in files(source):
        target = outdir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if name in ("README.md", "README.es.md"):
            target.write_text(student_readme((source / name).read_text(encoding="utf-8")), encoding="utf-8")
        else:
            shutil.copy2(source / name, target)
    found = leaks(outdir, source / "solutions")
    if found:
        shutil.rmtree(outdir)
        raise RuntimeError("solution code would be handed out, build stopped:\n  " + "\n  ".join(found))
    _commit(outdir)
    return outdir


def solution_bodies(solutions: Path) -> dict[str, str]:
    """Every function and method body of solutions/*.py as normalised source (docstring left out),
    keyed by "file:function"."""
    bodies = {}
    for path in sorted(solutions.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                body = normalised_body(node)
                if body:
                    bodies[f"{path.name}:{node.name}"] = body
    return bodies


def normalised_body(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    statements = node.body
    if statements and isinstance(statements[0], ast.Expr) and isinstance(statements[0].value, ast.Constant) \
            and isinstance(statements[0].value.value, str):
        statements = statements[1:]  # the docstring
    return _flush_left("\n".join(ast.unparse(s) for s in statements))


def _flush_left(code: str) -> str:
    """Every line without its indentation: a body reads the same at any depth of nesting."""
    return "\n".join(line.strip() for line in code.splitlines() if line.strip())


def normalised_source(source: str) -> str:
    """Python source as ast.unparse writes it (comments, layout and spacing gone), flush left."""
    try:
        return _flush_left(ast.unparse(ast.parse(source)))
    except (SyntaxError, ValueError, RecursionError):
        return _flush_left(source)


def code_of(path: Path) -> str:
    """The normalised Python code of a .py file, or of a notebook's code cells."""
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix != ".ipynb":
        return normalised_source(text)
    cells = json.loads(text).get("cells", [])
    return "\n".join(normalised_source("".join(c.get("source", ""))) for c in cells
                     if c.get("cell_type") == "code")


def leaks(outdir: Path, solutions: Path = ROOT / "solutions") -> list[str]:
    """Solution function bodies found in the Python files or notebooks under `outdir`, as
    "solution -> file"."""
    bodies = solution_bodies(solutions)
    found = []
    for path in sorted([*outdir.rglob("*.py"), *outdir.rglob("*.ipynb")]):
        if ".git" in path.parts:
            continue
        text = code_of(path)
        found += [f"{name} -> {path.relative_to(outdir)}" for name, body in bodies.items() if body in text]
    return found


def _commit(outdir: Path) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "gpt2lab", "GIT_AUTHOR_EMAIL": "gpt2lab@example.invalid",
           "GIT_COMMITTER_NAME": "gpt2lab", "GIT_COMMITTER_EMAIL": "gpt2lab@example.invalid"}

    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "commit.gpgsign=false", "-c", "core.hooksPath=/dev/null", *args],
                       cwd=outdir, env=env, check=True, capture_output=True)

    git("init", "--quiet", "--template=")  # no hooks or templates from this machine
    git("symbolic-ref", "HEAD", "refs/heads/main")
    git("add", "--all")
    git("commit", "--quiet", "-m", "GPT-2 kata: the exercises, their hidden suites and the checker")
