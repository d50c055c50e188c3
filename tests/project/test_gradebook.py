"""A class in one command (`nox -s grade -- --class DIR`: every grades.json, gradebook.csv and
gradebook.json) and the Gradescope bundle (`nox -s gradescope -- OUT.zip`), run in a directory laid
out as Gradescope lays out /autograder.

The real gradings grade two cheap exercises (e02, e03) to keep the suite fast; the class loop's
bookkeeping (crashes, skipping, --regrade, the roster, the progress bar) is tested with a stand-in
for the grader."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from gpt2lab import catalog
from gpt2lab.teacher import classroom_grading, gradebook, gradescope, sandbox
from gpt2lab.teacher import grades as document
from tests.project.conftest import ROOT, copy_repository, stubs_root

IDS = ("e02", "e03")
needs_sandbox = pytest.mark.skipif(sandbox.probe() is not None, reason=f"no sandbox here: {sandbox.probe()}")


def student_repo(folder: Path, solved: tuple[str, ...] = (), edits: dict[str, str] | None = None) -> Path:
    """A repository as a student pushes it: the stubs, the exercises of `solved` copied from the
    solutions, and `edits` (module -> text prepended to its file)."""
    shutil.copytree(stubs_root() / "exercises", folder / "exercises")
    for exercise in map(catalog.BY_ID.get, solved):
        shutil.copyfile(ROOT / "solutions" / f"{exercise.module}.py", folder / exercise.path)
    for module, text in (edits or {}).items():
        path = folder / "exercises" / f"{module}.py"
        path.write_text(text + path.read_text())
    return folder


def run_grade(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gpt2lab", "grade", *IDS, *args, "--device", "cpu"],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)


def read_csv(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


@needs_sandbox
def test_a_class_is_graded_in_one_command_and_a_rerun_grades_only_what_changed(tmp_path):
    klass = tmp_path / "gpt2-submissions"  # as `gh classroom clone student-repos` names it
    student_repo(klass / "perfect", IDS)
    student_repo(klass / "empty")
    student_repo(klass / "half", ("e02",))
    student_repo(klass / "crash", ("e03",), {"e02_mlp": "raise SystemExit('boom at import')\n"})
    student_repo(klass / "loop", IDS, {"e03_heads": "while True:\n    pass\n"})
    done = run_grade("--class", str(klass), "--timeout", "15")
    assert done.returncode == 0, done.stdout + done.stderr
    out = tmp_path / "gpt2-submissions-grades"  # next to the class directory
    assert read_csv(out / "gradebook.csv") == [
        ["student", "e02", "e03", "total"],
        ["crash", "0", "10", "10"],  # its e02 crashes at import: its e03 and everyone else are graded
        ["empty", "0", "0", "0"],
        ["half", "10", "0", "10"],
        ["loop", "10", "0", "10"],
        ["perfect", "10", "10", "20"],
    ]
    book = json.loads((out / "gradebook.json").read_text())
    seed = book["kata_seed"]
    rows = {r["student"]: r for r in book["students"]}
    assert rows["loop"]["statuses"] == {"e02": "passed", "e03": "timeout"}
    assert rows["crash"]["statuses"]["e02"] in ("failing", "crashed")
    assert rows["empty"]["statuses"] == {"e02": "not started", "e03": "not started"}
    assert book["possible"] == 20 and [e["id"] for e in book["exercises"]] == list(IDS)
    for name in rows:
        grades = json.loads((out / name / "grades.json").read_text())
        assert document.validate(grades) == [] and grades["kata_seed"] == seed  # one seed for the class
        assert rows[name]["graded"] == "graded" and not (klass / name / "grades.json").exists()
    lines = [line for line in done.stderr.splitlines() if line.startswith("[")]  # not a tty: a line each
    assert len(lines) == 5 and lines[0].startswith("[1/5] ") and "left" in lines[0]  # several at once:
    assert lines[-1].startswith("[5/5] ") and "done in" in lines[-1]  # in the order they finish
    assert sorted(line.split()[1] for line in lines) == ["crash:", "empty:", "half:", "loop:", "perfect:"]
    assert any(" perfect: 20/20 points" in line for line in lines)
    assert "perfect" in done.stdout and f"kata seed {seed}" in done.stdout

    half = klass / "half" / "exercises" / "e03_heads.py"
    shutil.copyfile(ROOT / "solutions" / "e03_heads.py", half)
    again = run_grade("--class", str(klass), "--timeout", "15")
    assert again.returncode == 0, again.stdout + again.stderr
    graded = {r["student"]: r["graded"] for r in json.loads((out / "gradebook.json").read_text())["students"]}
    assert graded == {"crash": "unchanged", "empty": "unchanged", "half": "graded", "loop": "unchanged",
                      "perfect": "unchanged"}
    assert read_csv(out / "gradebook.csv")[3] == ["half", "10", "10", "20"]
    assert json.loads((out / "half" / "grades.json").read_text())["kata_seed"] == seed  # the class's seed, kept


# ----------------------------------------------------------------------------------------------
# The class loop's bookkeeping, with a stand-in for the grader
# ----------------------------------------------------------------------------------------------


def fake_grade(calls: list[str]):
    """A grader that passes an exercise whose file says DONE, and raises on a submission that says BOOM."""

    def grade(submission, exercises, *, seed, config, pool=None, **options):
        if not (Path(submission) / "exercises").is_dir():
            raise FileNotFoundError(f"{submission} has no exercises/ folder: give the root of a kata repository")
        calls.append(Path(submission).name)
        text = "".join(p.read_text() for p in sorted((Path(submission) / "exercises").glob("e*.py")))
        if "BOOM" in text:
            raise RuntimeError("the judge fell over")
        result = classroom_grading.failed(submission, exercises, config, seed=seed, status="not started",
                                          reason="x", **options)
        for i, e in enumerate(exercises):
            if f"DONE {e.id}" in text:
                result["exercises"][i] = document.entry(e, config, "passed", cases_passed=1, cases=1)
        result["total"]["points"] = sum(e["points"] for e in result["exercises"])
        result["total"]["exercises_passed"] = sum(e["status"] == "passed" for e in result["exercises"])
        return result

    return grade


def tiny_repo(folder: Path, text: str) -> Path:
    (folder / "exercises").mkdir(parents=True)
    (folder / "exercises" / "e02_mlp.py").write_text(text)
    return folder


def test_a_submission_whose_grade_raises_is_crashed_for_every_exercise_and_costs_nobody_else(tmp_path, monkeypatch):
    calls: list[str] = []
    monkeypatch.setattr(classroom_grading, "grade", fake_grade(calls))
    klass = tmp_path / "class"
    tiny_repo(klass / "ada", "DONE e02 DONE e03")
    tiny_repo(klass / "bob", "BOOM")
    tiny_repo(klass / "cy", "DONE e03")
    (klass / "dee").mkdir()  # never pushed anything: no exercises/
    exercises = [catalog.BY_ID[i] for i in IDS]
    out = tmp_path / "out"
    stream = io.StringIO()
    book = classroom_grading.grade_class(gradebook.roster([klass]), out, exercises, use_sandbox=False,
                                         stream=stream)
    rows = {r["student"]: r for r in book["students"]}
    assert [r["total"] for r in book["students"]] == [20.0, 0.0, 10.0, 0.0]
    assert rows["bob"]["graded"] == "crashed" and set(rows["bob"]["statuses"].values()) == {"crashed"}
    bob = json.loads((out / "bob" / "grades.json").read_text())
    assert document.validate(bob) == [] and "the judge fell over" in bob["exercises"][0]["explanation"]
    assert set(rows["dee"]["statuses"].values()) == {"missing"}
    assert "no exercises/ folder" in json.loads((out / "dee" / "grades.json").read_text())["exercises"][1]["explanation"]
    assert read_csv(out / "gradebook.csv")[1:] == [["ada", "10", "10", "20"], ["bob", "0", "0", "0"],
                                                   ["cy", "0", "10", "10"], ["dee", "0", "0", "0"]]
    assert stream.getvalue().count("\n") == 4 and "\r" not in stream.getvalue()
    assert any(" bob: " in line and "the grader failed on it" in line for line in stream.getvalue().splitlines())

    calls.clear()  # again (in any order: several at once): the crashed one is tried again, the others were not changed
    book = classroom_grading.grade_class(gradebook.roster([klass]), out, exercises, use_sandbox=False,
                                         stream=io.StringIO())
    assert calls == ["bob"] and [r["graded"] for r in book["students"]] == ["unchanged", "crashed", "unchanged",
                                                                           "unchanged"]
    assert book["kata_seed"] == json.loads((out / "ada" / "grades.json").read_text())["kata_seed"]
    calls.clear()
    (klass / "cy" / "exercises" / "e03_heads.py").write_text("DONE e03")  # a file added counts as a change
    classroom_grading.grade_class(gradebook.roster([klass]), out, exercises, use_sandbox=False, stream=io.StringIO())
    assert sorted(calls) == ["bob", "cy"]
    calls.clear()
    classroom_grading.grade_class(gradebook.roster([klass]), out, exercises, use_sandbox=False, regrade=True,
                                  stream=io.StringIO())
    assert sorted(calls) == ["ada", "bob", "cy"]  # and dee, who has nothing to grade
    calls.clear()
    classroom_grading.grade_class(gradebook.roster([klass]), out, exercises[:1], use_sandbox=False, stream=io.StringIO())
    assert sorted(calls) == ["ada", "bob", "cy"]  # other exercises: another grade
    calls.clear()
    book = classroom_grading.grade_class(gradebook.roster([klass]), out, exercises[:1], seed=7, use_sandbox=False,
                                         stream=io.StringIO())
    assert sorted(calls) == ["ada", "bob", "cy"] and book["kata_seed"] == 7  # another seed: another grade


def test_ctrl_c_stops_the_class_and_keeps_what_was_graded(tmp_path, monkeypatch):
    calls: list[str] = []
    graded = fake_grade(calls)

    def grade(submission, *args, **options):
        if Path(submission).name == "bob":
            raise KeyboardInterrupt  # Ctrl-C while bob is graded
        return graded(submission, *args, **options)

    monkeypatch.setattr(classroom_grading, "grade", grade)
    klass = tmp_path / "class"
    for name in ("ada", "bob", "cy"):
        tiny_repo(klass / name, "DONE e02")
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        classroom_grading.grade_class(gradebook.roster([klass]), out, [catalog.BY_ID[i] for i in IDS], jobs=1,
                                      use_sandbox=False, stream=io.StringIO())
    assert calls == ["ada"]  # cy never started
    assert (out / "ada" / "stamp.json").exists() and not (out / "bob").exists()
    assert not (out / "gradebook.csv").exists()


def test_the_progress_bar_redraws_one_line_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    progress = classroom_grading.Progress(3, terminal)
    grades = {"total": {"points": 5.0, "possible": 20.0, "exercises_passed": 1, "exercises": 2}}
    for name, seconds in (("ada", 30.0), ("bob", 90.0)):
        student = gradebook.Student(name, Path(name), name)
        progress.start(student)
        progress.done(student, grades, "graded", seconds)
    text = terminal.getvalue()
    assert "\r\033[K[" in text and "grading bob ..." in text and "bob: 5/20 points, 1/2 passed (90.0 s)" in text
    assert text.rstrip().endswith("[#############.......] 2/3 about 1 min 00 s left")


def test_the_roster_reads_a_class_directory_a_list_and_classrooms_csv(tmp_path):
    klass = tmp_path / "gpt2-submissions"
    for name in ("gpt2-ada", "gpt2-bob", ".git", "gpt2-cy"):
        (klass / name).mkdir(parents=True)
    (klass / "gpt2-cy" / "exercises").mkdir()
    (klass / "old-grades").mkdir()
    (klass / "old-grades" / "gradebook.json").write_text("{}")  # an output folder is nobody
    assert [s.name for s in gradebook.roster([klass])] == ["gpt2-ada", "gpt2-bob", "gpt2-cy"]
    assert [s.key for s in gradebook.roster([klass / "gpt2-cy", klass / "gpt2-ada"])] == ["gpt2-cy", "gpt2-ada"]
    listing = tmp_path / "roster.txt"
    listing.write_text("# week 1\ngpt2-submissions/gpt2-bob\n\ngpt2-submissions/gpt2-ada\n")
    assert [s.folder for s in gradebook.roster([listing])] == [klass / "gpt2-bob", klass / "gpt2-ada"]
    grades_csv = tmp_path / "grades.csv"  # `gh classroom assignment-grades`: its columns
    grades_csv.write_text(
        "assignment_name,assignment_url,starter_code_url,github_username,roster_identifier,student_repository_name,"
        "student_repository_url,submission_timestamp,points_awarded,points_available\n"
        "gpt2,u,s,ada-gh,Ada Lovelace,gpt2-ada,https://github.com/org/gpt2-ada,t,10,100\n"
        "gpt2,u,s,bob-gh,,,https://github.com/org/gpt2-bob.git,t,0,100\n")
    students = gradebook.roster([grades_csv])
    assert [(s.name, s.folder, s.key) for s in students] == [("Ada Lovelace", klass / "gpt2-ada", "gpt2-ada"),
                                                             ("bob-gh", klass / "gpt2-bob", "gpt2-bob")]
    assert gradebook.default_out([klass]) == tmp_path / "gpt2-submissions-grades"
    assert gradebook.default_out([grades_csv]) == tmp_path / "grades-grades"
    with pytest.raises(ValueError, match="--out"):
        gradebook.default_out([klass / "gpt2-ada", klass / "gpt2-bob"])
    (tmp_path / "elsewhere" / "gpt2-ada").mkdir(parents=True)
    with pytest.raises(ValueError, match="share the folder name 'gpt2-ada'"):
        gradebook.roster([klass / "gpt2-ada", tmp_path / "elsewhere" / "gpt2-ada"])
    grades_csv.write_text("student_repository_name\ngpt2-zed\n")
    with pytest.raises(FileNotFoundError, match="gpt2-zed is not cloned"):
        gradebook.roster([grades_csv])


def test_gradebook_numbers_are_what_lms_imports_read():
    assert [gradebook.number(x) for x in (10.0, 0, 7.5, 3.333333, 1234567.0)] == ["10", "0", "7.5", "3.33", "1234567"]


# ----------------------------------------------------------------------------------------------
# Gradescope
# ----------------------------------------------------------------------------------------------

VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}
FORMATS = {"text", "html", "simple_format", "md", "ansi"}
TOP = {"score": (int, float), "execution_time": (int, float), "output": str, "output_format": str,
       "test_output_format": str, "test_name_format": str, "visibility": str, "stdout_visibility": str,
       "extra_data": dict, "tests": list, "leaderboard": list}
TEST = {"score": (int, float), "max_score": (int, float), "status": str, "name": str, "name_format": str,
        "number": str, "output": str, "output_format": str, "tags": list, "visibility": str, "extra_data": dict}


def gradescope_errors(results: dict) -> list[str]:
    """What in results.json breaks Gradescope's autograder specification (its documented fields and types)."""
    errors = [f"unknown field {k!r}" for k in results if k not in TOP]
    errors += [f"{k}: {type(v).__name__}" for k, v in results.items()
               if k in TOP and (not isinstance(v, TOP[k]) or isinstance(v, bool))]
    errors += [f"visibility {results[k]!r}" for k in ("visibility", "stdout_visibility")
               if k in results and results[k] not in VISIBILITY]
    errors += [f"{k} {results[k]!r}" for k in ("output_format", "test_output_format", "test_name_format")
               if k in results and results[k] not in FORMATS]
    for i, test in enumerate(results.get("tests", [])):
        errors += [f"tests[{i}]: unknown field {k!r}" for k in test if k not in TEST]
        errors += [f"tests[{i}].{k}: {type(v).__name__}" for k, v in test.items()
                   if k in TEST and (not isinstance(v, TEST[k]) or isinstance(v, bool))]
        if "score" not in test and "score" not in results:
            errors.append(f"tests[{i}]: no score, and none for the submission")
        if test.get("status", "passed") not in ("passed", "failed"):
            errors.append(f"tests[{i}].status {test['status']!r}")
        if test.get("visibility", "visible") not in VISIBILITY:
            errors.append(f"tests[{i}].visibility {test['visibility']!r}")
    if "score" not in results and "tests" not in results:
        errors.append("neither a score nor tests")
    return errors


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    teacher = copy_repository(tmp_path_factory.mktemp("teacher") / "gpt2lab", commit=False)
    out = tmp_path_factory.mktemp("bundle") / "autograder.zip"
    done = subprocess.run([sys.executable, "-m", "gpt2lab", "gradescope", str(out), *IDS], cwd=teacher,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def test_the_gradescope_bundle_has_the_specifications_layout_and_no_solutions(bundle):
    with zipfile.ZipFile(bundle) as z:
        names = set(z.namelist())
        modes = {i.filename: i.external_attr >> 16 for i in z.infolist()}
        setup = z.read("setup.sh").decode()
    assert {"setup.sh", "run_autograder"} <= names  # at the root of the zip, not in a folder
    assert all(modes[n] & stat.S_IXUSR for n in ("setup.sh", "run_autograder"))
    assert "grader/grading.toml" in names and "grader/tests/katas/test_e02_mlp.py" in names
    assert "grader/gpt2lab/teacher/gradescope.py" in names and "grader/exercises/e02_mlp.py" in names
    assert not any(n.startswith(("grader/solutions/", "grader/tests/project/", "grader/.git/")) for n in names)
    assert "bubblewrap" in setup and "download.pytorch.org/whl/cpu" in setup and "pip install" in setup
    # the explanations' Spanish travels with the grader (gradescope.build stops without it)
    assert {"grader/gpt2lab/locale/es/tools.po", "grader/gpt2lab/locale/es/grading.po"} <= names


def autograder_root(tmp_path: Path, bundle: Path) -> Path:
    """/autograder as Gradescope lays it out: source/ (the zip, extracted), run_autograder copied
    next to it, submission/, results/."""
    root = tmp_path / "autograder"
    with zipfile.ZipFile(bundle) as z:
        z.extractall(root / "source")
    shutil.copyfile(root / "source" / "run_autograder", root / "run_autograder")
    (root / "submission").mkdir()
    (root / "results").mkdir()
    (root / "submission_metadata.json").write_text('{"id": 1, "users": [{"name": "Ada"}]}')
    return root


def run_autograder(root: Path) -> dict:
    env = {**os.environ, "GRADESCOPE_ROOT": str(root), "GPT2LAB_PYTHON": sys.executable}
    done = subprocess.run(["bash", str(root / "run_autograder")], cwd=root, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads((root / "results" / "results.json").read_text())
    assert gradescope_errors(results) == [], results
    assert [t["name"][:3] for t in results["tests"]] == list(IDS)
    assert all(t["visibility"] == "visible" and t["max_score"] == 10 for t in results["tests"])
    assert "kata seed" in results["output"] and "sandbox" in results["output"]
    return results


@needs_sandbox
def test_run_autograder_grades_a_perfect_repository(tmp_path, bundle):
    root = autograder_root(tmp_path, bundle)
    student_repo(root / "submission", IDS)  # a GitHub submission: the repository
    results = run_autograder(root)
    assert results["score"] == 20 and [(t["score"], t["status"]) for t in results["tests"]] == [(10, "passed")] * 2
    assert "in the sandbox" in results["output"] and results["extra_data"]["sandbox"] is True


@needs_sandbox
def test_run_autograder_grades_files_uploaded_alone_an_empty_submission_gets_nothing(tmp_path, bundle):
    root = autograder_root(tmp_path, bundle)
    for path in (stubs_root() / "exercises").glob("e0*.py"):  # the files dropped in, no folder
        shutil.copyfile(path, root / "submission" / path.name)
    results = run_autograder(root)
    assert results["score"] == 0 and all(t["status"] == "failed" and t["score"] == 0 for t in results["tests"])
    assert all("not started" in t["output"] for t in results["tests"])
    assert "the submission's top folder" in results["output"]


@needs_sandbox
def test_run_autograder_refuses_a_cheating_submission_zipped_in_a_folder(tmp_path, bundle):
    root = autograder_root(tmp_path, bundle)
    repo = student_repo(root / "submission" / "my-gpt2", (), {"e02_mlp": "import transformers\n"})
    (repo / "exercises" / "e03_heads.py").unlink()
    (repo / "exercises" / "e03_heads.py").symlink_to(ROOT / "solutions" / "e03_heads.py")
    results = run_autograder(root)
    e02, e03 = results["tests"]
    assert results["score"] == 0 and e02["score"] == e03["score"] == 0
    assert "integrity" in e02["output"] and "transformers" in e02["output"]
    assert "symbolic link" in e03["output"] and "my-gpt2/exercises/" in results["output"]


def test_run_autograder_without_exercise_files_says_what_to_submit(tmp_path):
    root = tmp_path / "autograder"
    (root / "submission" / "notes").mkdir(parents=True)
    (root / "submission" / "README.md").write_text("hello")
    results = gradescope.run(root, [catalog.BY_ID[i] for i in IDS])
    assert json.loads((root / "results" / "results.json").read_text()) == results
    assert gradescope_errors(results) == [] and results["score"] == 0
    assert "No exercise file was found" in results["output"] and len(results["tests"]) == 2


def test_run_autograder_lang_es_speaks_spanish_to_students(tmp_path, monkeypatch):
    """`nox -s gradescope -- OUT.zip --lang es` writes `--lang es` into run_autograder, which passes it here."""
    monkeypatch.setenv("GPT2LAB_LANG", "en")  # restored after main() sets it
    root = tmp_path / "autograder"
    (root / "submission").mkdir(parents=True)
    assert gradescope.main(["--root", str(root), *IDS, "--lang", "es"]) == 0
    results = json.loads((root / "results" / "results.json").read_text())
    assert gradescope_errors(results) == []
    assert results["output"].startswith("Kata de GPT-2: sin corregir. No se ha encontrado ningún archivo")
    assert results["tests"][0]["name"] == f"{IDS[0]} {catalog.BY_ID[IDS[0]].title_es}"
    assert all(t["status"] == "failed" for t in results["tests"])  # Gradescope's words stay Gradescope's
