"""What `nox -s check` prints: the progress table, the first problem explained, what to do next."""

from __future__ import annotations

import sys

from gpt2lab import catalog
from gpt2lab.check import BLOCKED, FAILING, MISSING, NOT_STARTED, PASSED, ExerciseResult

MARKS = {PASSED: ("✔", "ok"), FAILING: ("✘", "XX"), NOT_STARTED: ("·", ".."),
         BLOCKED: ("⧗", "--"), MISSING: ("?", "??")}
COLOURS = {PASSED: "32", FAILING: "31", NOT_STARTED: "2", BLOCKED: "33", MISSING: "35"}


def _unicode() -> bool:
    try:
        "✔✘·⧗█░".encode(sys.stdout.encoding or "ascii")
        return True
    except (UnicodeEncodeError, LookupError):
        return False


class Style:
    def __init__(self, colour: bool | None = None, unicode: bool | None = None):
        self.colour = sys.stdout.isatty() if colour is None else colour
        self.unicode = _unicode() if unicode is None else unicode

    def paint(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.colour else text

    def mark(self, status: str) -> str:
        return self.paint(MARKS[status][0 if self.unicode else 1], COLOURS[status])

    def bar(self, done: int, total: int, width: int = 24) -> str:
        filled = round(width * done / total) if total else 0
        full, empty = ("█", "░") if self.unicode else ("#", "-")
        return "[" + self.paint(full * filled, "32") + empty * (width - filled) + "]"


def status_text(result: ExerciseResult) -> str:
    status = result.status
    if status == BLOCKED:
        return f"blocked (needs {', '.join(result.blocked_by)})"
    if status in (PASSED, FAILING):
        return f"{status} {result.passed}/{len(result.graded)}"
    return status


def table(results: list[ExerciseResult], style: Style) -> list[str]:
    lines = []
    for result in results:
        exercise = result.exercise
        title = exercise.title + (" (bonus)" if exercise.bonus else "")
        lines.append(f"  {style.mark(result.status)} {exercise.id}  {title:<56} "
                     f"{style.paint(status_text(result), COLOURS[result.status])}")
    return lines


def explain(result: ExerciseResult, style: Style, *, verbose: bool = False) -> list[str]:
    """The first problem of one exercise, in full; with verbose, every case too."""
    exercise = result.exercise
    lines = []
    if verbose:
        lines.append(f"{exercise.id}: every case")
        for v in result.verdicts:
            name = v["test"] + (f"[{v['case']}]" if v["case"] else "")
            lines.append(f"  {style.mark(_case_status(v))} {name}"
                         + (f"  ({v['status'].replace('_', ' ')})" if v["status"] != "passed" else ""))
        lines.append("")
    problem = result.first_problem()
    if problem is None:
        return lines
    if result.waiting_on:
        lines.append(f"{exercise.id} cannot run yet: it calls code of {', '.join(result.waiting_on)} "
                     f"that is not written yet ({problem['message']}). Do {result.waiting_on[0]} first.")
        return lines
    if result.status == NOT_STARTED:
        lines.append(f"{exercise.id} is not started: open {exercise.path} and replace each "
                     "`raise NotImplementedError` with your code.")
        return lines
    if result.blocked_by:
        lines.append(f"{exercise.id} builds on {', '.join(result.blocked_by)}, which "
                     f"{'is' if len(result.blocked_by) == 1 else 'are'} not passing yet: fix "
                     f"{result.blocked_by[0]} first.")
    name = problem["test"] + (f"[{problem['case']}]" if problem["case"] else "")
    lines.append(f"First problem in {exercise.id} ({exercise.path}), test {name}:")
    if problem["status"] == "not_started":
        lines.append(f"  not written yet: {problem['message']}")
    else:
        lines += ["  " + line for line in problem["message"].splitlines()]
    return lines


def _case_status(verdict: dict) -> str:
    return {"passed": PASSED, "not_started": NOT_STARTED, "skipped": MISSING}.get(verdict["status"], FAILING)


def _blocker(result: ExerciseResult, results: list[ExerciseResult]) -> catalog.Exercise:
    """The exercise to fix first when `result` is blocked: the first one it waits for."""
    first = result.blocked_by[0]
    known = {r.exercise.id: r.exercise for r in results}
    return known.get(first) or catalog.BY_ID.get(first, result.exercise)


def render(results: list[ExerciseResult], *, header: str, verbose: bool = False,
           style: Style | None = None) -> str:
    style = style or Style()
    lines = [header, "", *table(results, style)]
    done = sum(r.status == PASSED for r in results)
    if len(results) > 1:
        lines += ["", f"  progress {style.bar(done, len(results))} {done}/{len(results)} passed"]
    todo = next((r for r in results if r.status not in (PASSED, MISSING)), None)  # one the learner can do
    shown = results if verbose else [todo] if todo else []
    for result in shown:
        detail = explain(result, style, verbose=verbose)
        if detail:
            lines += ["", *detail]
    lines.append("")
    untested = [r.exercise.id for r in results if r.status == MISSING]
    if todo is None and untested:
        lines.append(f"Everything with tests passes; no hidden suite found for {', '.join(untested)}.")
    elif todo is None:
        lines.append("All done. Try `nox -s demo` to see your GPT-2 write." if len(results) > 1
                     else f"{results[0].exercise.id} passes. Run `nox -s check` for the whole course.")
    else:
        target = _blocker(todo, results) if todo.status == BLOCKED or todo.waiting_on else todo.exercise
        lines.append(f"Next: {target.id} — {target.path}. Details: "
                     f"`nox -s check -- {target.id} -v`; a hint: `nox -s hint -- {target.id}`.")
    return "\n".join(lines)
