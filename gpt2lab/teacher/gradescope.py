"""Gradescope: the autograder bundle (`nox -s gradescope -- OUT.zip`) and what it runs per submission.

Gradescope's autograder specification: a zip with `setup.sh` and `run_autograder` at its root,
extracted into /autograder/source. `setup.sh` runs once, as root, when Gradescope builds the
autograder's image (Ubuntu); `run_autograder` runs for every submission, in /autograder, with the
student's files in /autograder/submission, and must leave /autograder/results/results.json: one
test per graded part (name, score, max_score, output, visibility) and fields for the whole
submission.

The bundle holds, besides those two scripts, `grader/`: the repository handed to students (built
by gpt2lab.teacher.student: no solutions/, no teacher-only tests), whose suites, checker and
grading.toml grade. `run_autograder` runs `python -m gpt2lab.teacher.gradescope` there, which finds
the exercise files in the submission (a repository from GitHub, or files uploaded alone or in a
zip), grades them as `nox -s grade` does (sandboxed, one seed drawn per submission), and turns
grades.json into results.json. GRADESCOPE_ROOT (default /autograder) moves the whole layout, for
tests; GPT2LAB_PYTHON chooses the interpreter (default: the venv setup.sh made, else python3).
What students read (results.json's output, the explanations) is in the language the bundle was built
with (`nox -s gradescope -- OUT.zip --lang es`, written into run_autograder), else English: the
autograder's container has no locale of the students'.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from gpt2lab import catalog, i18n
from gpt2lab.i18n import _

ROOT = Path(__file__).resolve().parent.parent.parent
MAX_OUTPUT = 8000  # characters of one test's output; Gradescope shows it in a collapsed <pre>

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image: Python, bubblewrap
# (the sandbox the submissions' code runs in), CPU torch and the grader's dependencies, in a venv.
# Choose an Ubuntu 22.04 or later base image (Python 3.10 or later).
set -euo pipefail
ROOT="${GRADESCOPE_ROOT:-/autograder}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q python3 python3-venv python3-pip bubblewrap
python3 -m venv "$ROOT/venv"
"$ROOT/venv/bin/python" -m pip install --quiet --upgrade pip
"$ROOT/venv/bin/python" -m pip install --quiet torch --index-url https://download.pytorch.org/whl/cpu
"$ROOT/venv/bin/python" -m pip install --quiet -e "$ROOT/source/grader"
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission (in /autograder, as root): grade the exercise files of
# /autograder/submission with the suites of source/grader, write /autograder/results/results.json.
ROOT="${{GRADESCOPE_ROOT:-/autograder}}"
PYTHON="${{GPT2LAB_PYTHON:-}}"
if [ -z "$PYTHON" ]; then
  if [ -x "$ROOT/venv/bin/python" ]; then PYTHON="$ROOT/venv/bin/python"; else PYTHON=python3; fi
fi
cd "$ROOT/source/grader" || exit 1
exec "$PYTHON" -m gpt2lab.teacher.gradescope --root "$ROOT"{options}
"""


# ----------------------------------------------------------------------------------------------
# The bundle
# ----------------------------------------------------------------------------------------------


def build(out: Path, exercises: list[catalog.Exercise] | None = None, *, use_sandbox: bool = True,
          source: Path = ROOT, lang: str | None = None) -> Path:
    """Write the autograder zip to `out`: setup.sh, run_autograder and grader/ at its root. `lang`:
    the language of what students read (default: English)."""
    from gpt2lab.teacher import student

    out = Path(out).resolve()
    if out.suffix != ".zip":
        raise ValueError(f"{out.name}: give a .zip file (Gradescope uploads a zip)")
    options = "".join(f" {e.id}" for e in exercises or ()) + ("" if use_sandbox else " --no-sandbox") \
        + (f" --lang {lang}" if lang else "")
    with tempfile.TemporaryDirectory(prefix="gpt2lab-gradescope-") as tmp:
        grader = student.build(Path(tmp) / "grader", source=source)  # stops if a solution would leak
        shutil.rmtree(grader / ".git")
        if not any((grader / "gpt2lab" / "locale").glob("*/*.po")):  # the explanations' Spanish
            raise RuntimeError(f"{grader}: gpt2lab/locale/ did not make it into the bundle")
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(out.name + ".partial")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as bundle:
            for name, text in (("setup.sh", SETUP_SH), ("run_autograder", RUN_AUTOGRADER.format(options=options))):
                info = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
                info.external_attr = (0o100755 << 16)
                info.compress_type = zipfile.ZIP_DEFLATED
                bundle.writestr(info, text)
            for path in sorted(grader.rglob("*")):
                if path.is_file():
                    bundle.write(path, "grader/" + path.relative_to(grader).as_posix())
        partial.replace(out)
    return out


# ----------------------------------------------------------------------------------------------
# run_autograder
# ----------------------------------------------------------------------------------------------


def find_exercises(submission: Path, scratch: Path) -> tuple[Path, str] | None:
    """A folder holding exercises/ to grade, and where the files were found; None when none is there.

    A GitHub submission is the repository (submission/exercises/); an upload is the files alone
    (submission/e01_layer_norm.py, ...) or a folder of them, possibly one or two levels down (a zip
    of the folder). Links to folders are not followed; loose files are copied into `scratch` as
    they are (a link stays a link, and the grader refuses it)."""
    modules = {f"{e.module}.py" for e in catalog.EXERCISES}
    level = [submission]
    for _ in range(4):  # the submission, then three levels of folders
        for folder in level:
            if (folder / "exercises").is_dir() and not (folder / "exercises").is_symlink():
                return folder, _where(folder / "exercises", submission)
            loose = sorted(p for p in folder.iterdir() if p.name in modules)
            if loose:
                (scratch / "exercises").mkdir(parents=True, exist_ok=True)
                for path in loose:
                    shutil.copy2(path, scratch / "exercises" / path.name, follow_symlinks=False)
                return scratch, _where(folder, submission)
        level = sorted(p for folder in level for p in folder.iterdir()
                       if p.is_dir() and not p.is_symlink() and not p.name.startswith((".", "__MACOSX")))
    return None


def _where(path: Path, submission: Path) -> str:
    relative = path.relative_to(submission).as_posix()
    return _("the submission's top folder") if relative == "." else relative + "/"


def results(grades: dict, *, where: str, seconds: float) -> dict:
    """results.json (Gradescope's format) from a grades.json document: one test per exercise."""
    tests = [{"name": _name(e["id"], e["title"], e["bonus"]),
              "score": e["points"], "max_score": e["possible"],
              "status": "passed" if e["status"] == "passed" else "failed",
              "output": _test_output(e), "visibility": "visible"} for e in grades["exercises"]]
    total = grades["total"]
    bonus = sum(e["points"] for e in grades["exercises"] if e["bonus"])
    output = (_("GPT-2 kata: {points}/{possible} points").format(points=_num(total["points"] - bonus),
                                                                  possible=_num(total["possible"]))
              + (_(" + {bonus} bonus").format(bonus=_num(bonus)) if bonus else "")
              + _(", {passed}/{exercises} exercises passed.").format(passed=total["exercises_passed"],
                                                                     exercises=total["exercises"]) + "\n"
              + _("Graded the exercise files found in {where}, with kata seed {seed} (the cases' weights and inputs "
                  "are drawn from it), on {device}, torch {torch}, ").format(
                  where=where, seed=grades["kata_seed"], device=grades["device"], torch=grades["torch"])
              + (_("in the sandbox (bubblewrap).") if grades["sandbox"] else _("WITHOUT the sandbox (--no-sandbox).")))
    return {"score": total["points"], "execution_time": round(seconds), "output": output,
            "visibility": "visible", "stdout_visibility": "hidden", "tests": tests,
            "extra_data": {"kata_seed": grades["kata_seed"], "sandbox": grades["sandbox"]}}


def _name(exercise_id: str, title: str, bonus: bool) -> str:
    """A test's name: the exercise and its title, in the students' language."""
    exercise = catalog.BY_ID.get(exercise_id)
    if exercise is not None and i18n.language() == "es":
        title = exercise.title_es
    return f"{exercise_id} {title}" + (" " + _("(bonus)") if bonus else "")


def _test_output(e: dict) -> str:
    status = _(STATUS.get(e["status"], e["status"]))
    head = _("{status}: {passed}/{cases} cases passed").format(status=status, passed=e["cases_passed"],
                                                                cases=e["cases"]) if e["cases"] else status
    parts = [head, e["explanation"] or ""]
    listed = [] if e["status"] == "not started" else e["failures"]
    for failure in listed[:10]:
        parts.append(f"- {failure['test']} ({failure['status']}): {failure['message']}")
    if len(listed) > 10:
        parts.append(_("... and {n} more cases that do not pass").format(n=len(listed) - 10))
    text = "\n".join(p for p in parts if p)
    return text if len(text) <= MAX_OUTPUT else text[:MAX_OUTPUT - 4] + "\n..."


# grades.json's statuses (English, machine-readable) as students read them in results.json
STATUS = {"passed": i18n.N_("passed"), "failing": i18n.N_("failing"), "not started": i18n.N_("not started"),
          "blocked": i18n.N_("blocked"), "no tests": i18n.N_("no tests"), "integrity": i18n.N_("integrity"),
          "encoding": i18n.N_("encoding"), "timeout": i18n.N_("timeout"), "memory": i18n.N_("memory"),
          "crashed": i18n.N_("crashed"), "missing": i18n.N_("missing")}


def _num(x: float) -> str:
    return f"{x:g}"


def failure(exercises: list[catalog.Exercise], reason: str, *, seconds: float) -> dict:
    """results.json when nothing could be graded: every test at zero, and why."""
    from gpt2lab.teacher.grades import Config

    config = Config.load()
    tests = [{"name": _name(e.id, e.title, e.bonus),
              "score": 0.0, "max_score": config.points[e.id], "status": "failed", "output": reason,
              "visibility": "visible"} for e in exercises]
    return {"score": 0.0, "execution_time": round(seconds), "output": _("GPT-2 kata: not graded. {reason}").format(
        reason=reason),
            "visibility": "visible", "stdout_visibility": "hidden", "tests": tests}


def run(root: Path, exercises: list[catalog.Exercise], *, use_sandbox: bool = True) -> dict:
    """Grade root/submission and write root/results/results.json; return what was written."""
    from gpt2lab.teacher.grade import SandboxMissing, grade
    from gpt2lab.teacher.grades import summary

    began = time.monotonic()
    out = root / "results" / "results.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gpt2lab-submission-") as scratch:
        found = find_exercises(root / "submission", Path(scratch)) if (root / "submission").is_dir() else None
        if found is None:
            names = ", ".join(f"exercises/{e.module}.py" for e in exercises[:2])
            document = failure(exercises, _("No exercise file was found in the submission: submit your repository "
                                            "(with its exercises/ folder), or the files themselves ({names}, ...).")
                               .format(names=names), seconds=time.monotonic() - began)
        else:
            folder, where = found
            try:
                grades = grade(folder, exercises, use_sandbox=use_sandbox)
                print(summary(grades))
                document = results(grades, where=where, seconds=time.monotonic() - began)
            except SandboxMissing as error:
                document = failure(exercises, "The grader's sandbox cannot run in this autograder: " + str(error)
                                   + "\nTeacher: rebuild the bundle with `nox -s gradescope -- OUT.zip --no-sandbox` "
                                   "to grade without it (Gradescope's container is then the only isolation).",
                                   seconds=time.monotonic() - began)
            except Exception as error:  # noqa: BLE001 — say it in results.json, where the teacher sees it
                document = failure(exercises, _("The grader failed: {error}").format(
                    error=f"{type(error).__name__}: {error}"), seconds=time.monotonic() - began)
    out.write_text(json.dumps(document, indent=1) + "\n")
    print(f"results.json: {out} ({_num(document['score'])} points)")
    return document


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gpt2lab.teacher.gradescope",
                                     description="What run_autograder runs: grade /autograder/submission.")
    parser.add_argument("exercises", nargs="*", help="e.g. e04 (default: all)")
    parser.add_argument("--root", default="/autograder", help="Gradescope's root (default /autograder)")
    parser.add_argument("--no-sandbox", action="store_true", help="grade without bubblewrap")
    parser.add_argument("--lang", choices=i18n.LANGUAGES, help="the language students read (default: en)")
    args = parser.parse_args(argv)
    i18n.set_language(args.lang or "en")  # the container's locale is not the students'; the judges follow
    exercises = [catalog.find(i) for i in args.exercises] or list(catalog.EXERCISES)
    run(Path(args.root), exercises, use_sandbox=not args.no_sandbox)
    return 0


if __name__ == "__main__":
    sys.exit(main())
