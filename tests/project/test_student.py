"""`nox -s student -- OUTDIR`: the repository handed to students has the stubs, the suites and the
machinery, no solution code anywhere, one clean commit, and every exercise "not started"."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from gpt2lab import catalog
from gpt2lab.teacher import student
from tests.project.conftest import ROOT, copy_repository


@pytest.fixture(scope="module")
def teacher(tmp_path_factory) -> Path:
    """This repository with its stubs as shipped, whatever a learner wrote in exercises/ here."""
    return copy_repository(tmp_path_factory.mktemp("teacher") / "gpt2lab", commit=False)


@pytest.fixture(scope="module")
def built(tmp_path_factory, teacher) -> Path:
    out = tmp_path_factory.mktemp("handout") / "gpt2lab-starter"
    done = subprocess.run([sys.executable, "-m", "gpt2lab", "student", str(out)], cwd=teacher,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def flush_left(code: str) -> str:
    return "\n".join(line.strip() for line in code.splitlines() if line.strip())


def bodies_of(tree: ast.AST) -> list[str]:
    """Every function or method body, docstring left out, as normalised source."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body[1:] if ast.get_docstring(node) is not None else node.body
            found.append(flush_left("\n".join(ast.unparse(statement) for statement in body)))
    return found


def test_the_student_repository_holds_no_solution_code(built):
    assert not (built / "solutions").exists() and not (built / "tests" / "project").exists()
    assert not (built / "benchmarks").exists() and not (built / ".ci").exists()
    solutions = {f"{path.name}:{i}": body for path in sorted((ROOT / "solutions").glob("*.py"))
                 for i, body in enumerate(bodies_of(ast.parse(path.read_text()))) if body}
    assert len(solutions) > 20
    shipped = [p for p in built.rglob("*") if p.suffix in (".py", ".ipynb") and ".git" not in p.parts]
    assert len(shipped) > 20
    for path in shipped:
        if path.suffix == ".ipynb":
            cells = json.loads(path.read_text())["cells"]
            sources = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
        else:
            sources = [path.read_text()]
        text = "\n".join(flush_left(ast.unparse(ast.parse(s))) if _parses(s) else flush_left(s) for s in sources)
        leaked = [name for name, body in solutions.items() if body in text]
        assert not leaked, f"{path.relative_to(built)} contains the code of {leaked}"
    for readme in ("README.md", "README.es.md"):
        text = (built / readme).read_text()
        assert "solutions/" not in text and "<!-- teacher" not in text and "For teachers" not in text


def _parses(source: str) -> bool:
    try:
        ast.parse(source)
        return True
    except SyntaxError:
        return False


def test_the_student_repository_has_what_a_learner_needs(built, teacher):
    for exercise in catalog.EXERCISES:
        assert (built / exercise.path).read_text() == (teacher / exercise.path).read_text()
        assert (built / "tests" / "katas" / f"test_{exercise.module}.py").exists()
    for name in ("noxfile.py", "pyproject.toml", "grading.toml", "gpt2lab/check.py", "tests/conftest.py",
                 ".github/workflows/classroom.yml", "gpt2lab/data/gpt2/vocab.json"):
        assert (built / name).is_file(), name


def test_the_student_repository_speaks_spanish(built, teacher, tmp_path):
    """The catalogues ship with the student repository (and so with the Gradescope bundle built from it)."""
    catalogues = sorted(p.name for p in (teacher / "gpt2lab" / "locale" / "es").glob("*.po"))
    assert catalogues and sorted(p.name for p in (built / "gpt2lab" / "locale" / "es").glob("*.po")) == catalogues
    done = subprocess.run([sys.executable, "-m", "gpt2lab", "hint", "e01", "--lang", "es", "--root", str(tmp_path)],
                          cwd=built, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "pista 1 de" in done.stdout and "Siguiente pista" in done.stdout, done.stderr


def test_the_student_repository_has_one_clean_commit(built):
    def git(*args):
        return subprocess.run(["git", *args], cwd=built, capture_output=True, text=True, check=True).stdout

    assert git("rev-list", "--count", "--all").strip() == "1"
    assert git("status", "--porcelain") == ""
    assert git("branch", "--show-current").strip() == "main"
    assert "solutions/" not in git("ls-files")


def test_every_exercise_is_not_started_in_the_student_repository(built, tmp_path):
    """What `nox -s check` runs there: the student's own copy of the checker and the suites."""
    report = tmp_path / "check.json"
    done = subprocess.run([sys.executable, "-m", "gpt2lab", "check", "--device", "cpu", "--json", str(report)],
                          cwd=built, capture_output=True, text=True, timeout=600)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"checking {built.name}/exercises/" in done.stdout  # the student repository's, not ours
    statuses = {i: entry["status"] for i, entry in json.loads(report.read_text()).items()}
    assert statuses == {e.id: "not started" for e in catalog.EXERCISES}


def test_the_build_stops_when_solution_code_would_leak(tmp_path):
    source = copy_repository(tmp_path / "teacher", commit=False)
    stub = source / "exercises" / "e03_heads.py"
    stub.write_text(stub.read_text() + "\n\n" + (ROOT / "solutions" / "e03_heads.py").read_text())
    with pytest.raises(RuntimeError, match="e03_heads.py:split_heads -> exercises/e03_heads.py"):
        student.build(tmp_path / "out", source=source)
    assert not (tmp_path / "out").exists()
