"""Hints in steps (`nox -s hint -- e04`): every exercise has them, they advance, and none gives
away a line of the reference solution."""

import ast
import json
import re
import subprocess
import sys

import pytest

from gpt2lab import catalog, hints, i18n
from gpt2lab.check import ROOT
from tests.project.conftest import stubs_root

EXERCISES = list(catalog.EXERCISES)
IDS = [e.id for e in EXERCISES]
MIN_CHARS = 16  # a solution line shorter than this, whitespace removed, is trivial (`B, T, C = x.shape`)


@pytest.mark.parametrize("exercise", EXERCISES, ids=IDS)
def test_every_exercise_has_three_or_more_hints_in_both_languages(exercise):
    steps = hints.load(exercise)
    assert len(steps["en"]) == len(steps["es"]) >= 3
    assert all(isinstance(s, str) and len(s) > 40 for lang in ("en", "es") for s in steps[lang])
    data = json.loads((hints.DATA / f"{exercise.id}.json").read_text(encoding="utf-8"))
    assert data["exercise"] == exercise.id
    # the last step is the closest to code, and says so
    assert steps["en"][-1].startswith("Pseudo-code") and steps["es"][-1].startswith("Pseudocódigo")


def code_lines(path) -> set[str]:
    """The code of a Python file, line by line, comments and docstrings removed, whitespace removed."""
    tree = ast.parse(path.read_text())
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and ast.get_docstring(node) is not None:
            first = node.body[0]
            docstrings.update(range(first.lineno, first.end_lineno + 1))
    lines = set()
    for n, line in enumerate(path.read_text().splitlines(), 1):
        code = re.sub(r"\s+", "", line.split("  #")[0].split("# ")[0])
        if code and n not in docstrings:
            lines.add(code)
    return lines


def giveaways(exercise: catalog.Exercise) -> set[str]:
    """Solution lines (and right-hand sides) that a hint must never contain: not trivial, and not
    already shown by the stub (its code or its docstrings)."""
    given = re.sub(r"\s+", "", (stubs_root() / exercise.path).read_text())  # the stub as shipped
    found = set()
    for line in code_lines(ROOT / "solutions" / f"{exercise.module}.py"):
        for piece in (line, re.sub(r"^(return|[\w.,()\[\]]+=(?!=))", "", line)):
            if len(piece) >= MIN_CHARS and piece not in given:
                found.add(piece)
    return found


def offending(exercise: catalog.Exercise, text: str) -> list[str]:
    squeezed = re.sub(r"\s+", "", text)
    return sorted(line for line in giveaways(exercise) if line in squeezed)


@pytest.mark.parametrize("exercise", EXERCISES, ids=IDS)
def test_no_hint_contains_a_line_of_the_solution(exercise):
    assert len(giveaways(exercise)) >= 3, "the solution has too little code to compare with"
    steps = hints.load(exercise)
    for lang in ("en", "es"):
        for n, step in enumerate(steps[lang], 1):
            leaked = offending(exercise, step)
            assert not leaked, f"{exercise.id} {lang} hint {n} gives away {leaked}"


def test_the_giveaway_check_catches_a_solution_line():
    e04 = catalog.BY_ID["e04"]
    leak = "Write: scores = q @ k.transpose(-2, -1)  /  math.sqrt(k.size(-1))"
    assert offending(e04, leak)
    assert offending(e04, "then q @ k.transpose(-2,-1) / math.sqrt(k.size(-1)) gives the scores")  # the RHS alone
    assert not offending(e04, "divide the scores by the square root of the head size")


# -- stepping through them -------------------------------------------------------------------------


def hint(capsys, tmp_path, *args, lang="en", show_all=False, reset=False):
    code = hints.main(args[0] if args else None, lang=lang, show_all=show_all, reset=reset, root=tmp_path)
    return code, capsys.readouterr().out


def test_hints_advance_then_stop_at_the_last(capsys, tmp_path):
    exercise = catalog.BY_ID["e03"]
    steps = hints.load(exercise)["en"]
    for n in range(1, len(steps) + 1):
        code, out = hint(capsys, tmp_path, "e03")
        assert code == 0
        assert f"e03 — {exercise.title} — hint {n} of {len(steps)}" in out
        assert steps[n - 1][:50] in re.sub(r"\s+", " ", out)
        assert ("Next hint: nox -s hint -- e03" in out) == (n < len(steps))
    state = json.loads((tmp_path / ".gpt2lab" / "hints.json").read_text())
    assert state == {"e03": len(steps)}
    code, out = hint(capsys, tmp_path, "e03")  # past the last: the last again, and what to do now
    assert f"hint {len(steps)} of {len(steps)}" in out and "That was the last hint" in out
    assert "--reset" in out and "--all" in out


def test_progress_is_per_exercise_and_reset(capsys, tmp_path):
    hint(capsys, tmp_path, "e01")
    hint(capsys, tmp_path, "e01")
    _, out = hint(capsys, tmp_path, "e02")
    assert "hint 1 of" in out
    hint(capsys, tmp_path, "e01", reset=True)
    _, out = hint(capsys, tmp_path, "e01")
    assert "hint 1 of" in out
    _, out = hint(capsys, tmp_path, "e02")
    assert "hint 2 of" in out
    code, out = hint(capsys, tmp_path, reset=True)
    assert code == 0 and "e01, e02" in out
    assert json.loads((tmp_path / ".gpt2lab" / "hints.json").read_text()) == {}


def test_all_shows_every_hint_without_moving(capsys, tmp_path):
    steps = hints.load(catalog.BY_ID["e04"])["es"]
    _, out = hint(capsys, tmp_path, "e04", lang="es", show_all=True)
    assert all(f"pista {n} de {len(steps)}:" in out for n in range(1, len(steps) + 1))
    assert not (tmp_path / ".gpt2lab").exists()


def test_a_damaged_state_file_starts_over(capsys, tmp_path):
    (tmp_path / ".gpt2lab").mkdir()
    (tmp_path / ".gpt2lab" / "hints.json").write_text("{not json")
    code, out = hint(capsys, tmp_path, "e01")
    assert code == 0 and "hint 1 of" in out


def test_missing_or_unknown_exercise(capsys, tmp_path):
    code, out = hint(capsys, tmp_path)
    assert code == 2 and "nox -s hint -- e04" in out
    code, out = hint(capsys, tmp_path, "e99")
    assert code == 2 and "e01" in out


@pytest.mark.parametrize(("environ", "expected"), [
    ({}, "en"),
    ({"GPT2LAB_LANG": "es", "LC_ALL": "C.UTF-8"}, "es"),  # what `--lang es` sets, for every command
    ({"LANG": "es_ES.UTF-8"}, "es"),
    ({"LANG": "es"}, "es"),
    ({"LANG": "en_GB.UTF-8"}, "en"),
    ({"LC_ALL": "es_MX.UTF-8", "LANG": "en_US.UTF-8"}, "es"),
    ({"LC_ALL": "", "LC_MESSAGES": "es_AR", "LANG": "en_US"}, "es"),
    ({"LC_ALL": "C.UTF-8", "LANG": "es_ES.UTF-8"}, "en"),  # LC_ALL wins, as in every POSIX program
])
def test_language_from_the_locale(environ, expected):
    assert i18n.language(None, environ) == expected
    assert i18n.language("en", {"LANG": "es_ES"}) == "en"


def test_hint_command_in_spanish_from_the_locale(tmp_path):
    environ = {"PATH": "/usr/bin:/bin", "LANG": "es_ES.UTF-8", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "gpt2lab", "hint", "e02", "--root", str(tmp_path)],
                          capture_output=True, text=True, env=environ, cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr
    assert f"e02 — {catalog.BY_ID['e02'].title_es} — pista 1 de" in done.stdout
    assert "Siguiente pista" in done.stdout


def test_the_last_hint_points_at_the_solution_only_where_there_is_one(capsys, tmp_path):
    for _ in range(len(hints.load(catalog.BY_ID["e01"])["en"])):
        _, out = hint(capsys, tmp_path, "e01")
    assert "That was the last hint" in out and "solutions/" not in out  # a student's copy has none
    (tmp_path / "solutions").mkdir()
    (tmp_path / "solutions" / "e01_layer_norm.py").write_text("")
    _, out = hint(capsys, tmp_path, "e01")
    assert "solutions/e01_layer_norm.py holds a reference" in out
