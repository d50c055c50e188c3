"""`nox -s tests` on a learner's clone: whatever is in exercises/ (stubs, half done, all done,
broken, committed or not), the repository's tests pass, because they read the stubs from git,
never the working tree.

A copy of this repository (its stubs committed) gets a learner's work in exercises/, and tests that
need the stubs run there, in their own pytest: one for each way of reaching them (graded in this
process, read as files, checked by a command with --root, copied into a teacher's repository). The
slower ones reach the stubs the same ways and are left out here (LEFT_OUT), for time.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.project.conftest import GIT, ROOT, copy_repository

# Tests that read the stubs (tests/project/conftest.py's stubs_root or copy_repository), run on the clone
READ_THE_STUBS = [
    "tests/project/test_report.py::test_stub_is_not_started",
    "tests/project/test_demo.py::test_unfinished_exercises_are_named_without_traceback",
    "tests/project/test_train.py::test_unwritten_exercises_are_explained",
    "tests/project/test_integrity.py::test_the_course_itself_passes_the_static_check",
    "tests/project/test_spanish.py::test_every_instruction_has_a_spanish_paragraph",
    "tests/project/test_hints.py",
    "tests/project/test_student.py::test_the_student_repository_has_what_a_learner_needs",
    "tests/project/test_student.py::test_the_build_stops_when_solution_code_would_leak",
]
# ... and those that read them the same ways, too slow to run twice (10-20 s each on 2 cores)
LEFT_OUT = [
    "tests/project/test_course.py::test_fresh_stubs_are_not_started",
    "tests/project/test_course.py::test_check_command_on_fresh_stubs_reports_without_traceback",
    "tests/project/test_course.py::test_check_one_exercise_exit_code",
    "tests/project/test_startup.py::test_the_first_lines_of_env_and_of_check_come_before_torch",
    "tests/project/test_student.py::test_every_exercise_is_not_started_in_the_student_repository",
    "tests/project/test_colab.py::test_notebook_runs_from_top_to_bottom",
    "tests/project/test_builtin_rules.py::test_the_reference_solutions_are_not_refused",
    "tests/project/test_builtin_rules.py::test_nox_check_on_a_repository_whose_e01_uses_f_layer_norm",
    "tests/project/test_sandbox.py",  # grades submissions made of the stubs: a minute and more
    "tests/project/test_gradebook.py",
]


def half_done(solution: str) -> str:
    """The solution with its last function's body a stub again: some parts written, some not."""
    last = [node for node in ast.walk(ast.parse(solution)) if isinstance(node, ast.FunctionDef)][-1]
    lines = solution.splitlines()
    first = last.body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):  # keep the docstring
        first = last.body[1] if len(last.body) > 1 else first
    indent = " " * first.col_offset
    lines[first.lineno - 1:last.end_lineno] = [f'{indent}raise NotImplementedError("not written yet")']
    return "\n".join(lines) + "\n"


def write_learners_work(exercises: Path) -> None:
    """e01-e03 done (the solutions, copied), e04 half done, e05 does not compile, e06 done, the rest
    stubs, and a scratch file of the learner's."""
    solutions = ROOT / "solutions"
    for module in ("e01_layer_norm", "e02_mlp", "e03_heads", "e06_gpt2"):
        shutil.copy(solutions / f"{module}.py", exercises / f"{module}.py")
    (exercises / "e04_attention.py").write_text(half_done((solutions / "e04_attention.py").read_text()))
    (exercises / "e05_block.py").write_text((solutions / "e05_block.py").read_text() + "\ndef broken(:\n")
    (exercises / "notes.py").write_text("# the learner's scratch file\n")


def run_tests(clone: Path, *selection: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "GPT2LAB_"))}
    environ["GIT_CEILING_DIRECTORIES"] = str(clone.parent)  # no git repository above the copy is used
    return subprocess.run([sys.executable, "-m", "pytest", *selection, "-q", "-p", "no:cacheprovider",
                           "-p", "no:randomly", "-rs"], cwd=clone, env=environ, capture_output=True,
                          text=True, timeout=900)


def test_the_repositorys_tests_pass_whatever_the_learner_wrote(tmp_path):
    clone = copy_repository(tmp_path / "clone")
    write_learners_work(clone / "exercises")
    # the learner commits their work (HEAD no longer holds the stubs), then goes on writing
    subprocess.run([*GIT, "commit", "-qam", "my e01 to e06"], cwd=clone, check=True, capture_output=True)
    e07 = clone / "exercises" / "e07_generate.py"
    e07.write_text(half_done((ROOT / "solutions" / "e07_generate.py").read_text()))
    changed = subprocess.run(["git", "status", "--porcelain", "exercises"], cwd=clone, capture_output=True,
                             text=True, check=True).stdout.splitlines()
    assert changed == [" M exercises/e07_generate.py", "?? exercises/notes.py"], changed
    done = run_tests(clone, *READ_THE_STUBS)
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert "passed" in summary and "skipped" not in summary and "failed" not in summary, summary

    # the same copy without git: the stubs cannot be told apart from the learner's work, so the
    # tests that need them are skipped, saying why; nothing fails
    shutil.rmtree(clone / ".git")
    done = run_tests(clone, "tests/project/test_report.py::test_stub_is_not_started",
                     "tests/project/test_spanish.py")
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert "no git history here" in done.stdout and "skipped" in done.stdout.splitlines()[-1]


def test_every_test_that_reads_the_stubs_is_run_on_a_learners_clone():
    """A test that reads the stubs must be in READ_THE_STUBS (or LEFT_OUT, for its cost), and no
    test reads the working tree's exercises/."""
    listed = {entry.split("::")[0].removeprefix("tests/project/") for entry in READ_THE_STUBS + LEFT_OUT}
    for path in sorted((ROOT / "tests" / "project").glob("test_*.py")):
        text = path.read_text()
        if path.name != Path(__file__).name and ("stubs_root(" in text or "copy_repository(" in text):
            assert path.name in listed, f"{path.name} reads the stubs: add its tests to READ_THE_STUBS"
        working_tree = re.findall(r'ROOT\w* / "exercises"|\(ROOT\w* / exercise\.path\)', text)
        assert not working_tree, f"{path.name} reads the working tree's exercises/: use stubs_root()"
