"""What `nox -s check` prints: the progress table, the first problem explained, what to do next."""

from __future__ import annotations

import sys

from gpt2lab import catalog
from gpt2lab.check import BLOCKED, FAILING, MISSING, NOT_STARTED, PASSED, ExerciseResult, counts

OUTDATED = "out of date"  # shown, never computed: a result older than an exercise it builds on
MARKS = {PASSED: ("✔", "ok"), FAILING: ("✘", "XX"), NOT_STARTED: ("·", ".."),
         BLOCKED: ("⧗", "--"), MISSING: ("?", "??"), OUTDATED: ("↻", "~~")}
COLOURS = {PASSED: "32", FAILING: "31", NOT_STARTED: "2", BLOCKED: "33", MISSING: "35", OUTDATED: "36"}
MESSAGE_LINES = 4  # of each failing case's message, with -v


def _unicode() -> bool:
    try:
        "✔✘·⧗↻█░".encode(sys.stdout.encoding or "ascii")
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


def shown_status(result: ExerciseResult) -> str:
    """The status the table shows: OUTDATED while an exercise it builds on changed since its check."""
    return OUTDATED if result.outdated_by else result.status


def cases(n: int) -> str:
    return f"{n} case" + ("" if n == 1 else "s")


def status_text(result: ExerciseResult) -> str:
    status = result.status
    if result.outdated_by:
        return f"{OUTDATED}: {', '.join(result.outdated_by)} changed; checking again"
    if status == BLOCKED:
        return f"blocked (needs {', '.join(result.blocked_by)})"
    if status == PASSED:
        return f"passed ({cases(len(result.graded))})"
    if status == FAILING:
        return f"failing: {result.passed} of {cases(len(result.graded))} pass"
    return status


def table(results: list[ExerciseResult], style: Style) -> list[str]:
    lines = []
    for result in results:
        exercise = result.exercise
        title = exercise.title + (" (bonus)" if exercise.bonus else "")
        status = shown_status(result)
        lines.append(f"  {style.mark(status)} {exercise.id}  {title:<56} "
                     f"{style.paint(status_text(result), COLOURS[status])}")
    return lines


def explain(result: ExerciseResult, style: Style, *, verbose: bool = False) -> list[str]:
    """The first problem of one exercise, in full; with verbose, every case too."""
    exercise = result.exercise
    lines = []
    if verbose:
        lines.append(f"{exercise.id}: every case")
        previous = None
        for v in result.verdicts:
            name = v["test"] + (f"[{v['case']}]" if v["case"] else "")
            lines.append(f"  {style.mark(_case_status(v))} {name}"
                         + (f"  ({v['status'].replace('_', ' ')})" if v["status"] != "passed" else ""))
            message = _first_lines(v.get("message", "")) if v["status"] not in ("passed", "skipped") else []
            if message != previous:  # the same words under the next case too are said once
                lines += ["      " + line for line in message]
            previous = message or previous
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


def _first_lines(message: str, n: int = MESSAGE_LINES) -> list[str]:
    """The first lines of a case's message, without the "case: ..." line the case name repeats."""
    lines = [line for line in message.splitlines() if line.strip()]
    if lines and lines[0].startswith("case: "):
        lines = lines[1:]
    return lines[:n] + (["..."] if len(lines) > n else [])


def _case_status(verdict: dict) -> str:
    return {"passed": PASSED, "not_started": NOT_STARTED, "skipped": MISSING}.get(verdict["status"], FAILING)


def _blocker(result: ExerciseResult, results: list[ExerciseResult]) -> catalog.Exercise:
    """The exercise to fix first when `result` is blocked: the first one it waits for."""
    first = result.blocked_by[0]
    known = {r.exercise.id: r.exercise for r in results}
    return known.get(first) or catalog.BY_ID.get(first, result.exercise)


def render(results: list[ExerciseResult], *, header: str, verbose: bool = False,
           style: Style | None = None, named: bool = False) -> str:
    """The progress table, the first problem explained and the next step.

    `named`: the exercises were named on the command line, so a bonus exercise counts even when it
    is not started (gpt2lab.check.counts)."""
    style = style or Style()
    lines = [header, "", *table(results, style)]
    done = sum(r.status == PASSED and not r.outdated_by for r in results)
    if len(results) > 1:
        lines += ["", f"  progress {style.bar(done, len(results))} {done}/{len(results)} passed"]
    # the one the learner can do next; never one whose result is out of date
    todo = next((r for r in results if r.status not in (PASSED, MISSING) and counts(r, named)), None)
    outdated = [r for r in results if r.outdated_by]
    if outdated and (todo is None or results.index(outdated[0]) <= results.index(todo)):
        return "\n".join([*lines, "", _checking_again(outdated)])
    shown = results if verbose else [todo] if todo else []
    for result in shown:
        detail = explain(result, style, verbose=verbose)
        if detail:
            lines += ["", *detail]
    lines.append("")
    if todo is not None:
        target = _blocker(todo, results) if todo.status == BLOCKED or todo.waiting_on else todo.exercise
        hint = f"hint: `nox -s hint -- {target.id}`."
        details = f"A {hint}" if verbose else f"Details: `nox -s check -- {target.id} -v`; a {hint}"
        lines.append(f"Next: {target.id} — {target.path}. {details}")
        return "\n".join(lines)
    return "\n".join(lines + _finished(results))


def _checking_again(outdated: list[ExerciseResult]) -> str:
    ids = ", ".join(r.exercise.id for r in outdated)
    changed = sorted({e for r in outdated for e in r.outdated_by})
    return (f"{ids} {'is' if len(outdated) == 1 else 'are'} out of date ({', '.join(changed)} changed since "
            "they were checked): the next step comes once they are checked again.")


def _finished(results: list[ExerciseResult]) -> list[str]:
    """Nothing that counts is left to do: say so, and what comes next."""
    untested = [r.exercise.id for r in results if r.status == MISSING]
    if untested:
        return [f"Everything with tests passes; no hidden suite found for {', '.join(untested)}."]
    if len(results) == 1:
        return [f"{results[0].exercise.id} passes. Run `nox -s check` for the whole course."]
    if not {e.id for e in catalog.EXERCISES if not e.bonus} <= {r.exercise.id for r in results}:
        ids = ", ".join(r.exercise.id for r in results)
        return [f"{ids}: every one checked passes. Run `nox -s check` for the whole course."]
    core = [r for r in results if not r.exercise.bonus]
    bonus = [r for r in results if r.exercise.bonus and r.status != PASSED]
    if not bonus:
        return ["All done: every exercise passes. Try `nox -s demo` to see your GPT-2 write, and "
                "`nox -s train` to train one."]
    first, last = (core[0].exercise.id, core[-1].exercise.id) if core else ("", "")
    lines = [f"The core course passes ({first} to {last}): your GPT-2 is complete." if core
             else "Every exercise started passes.", "What next:",
             "  nox -s demo     your GPT-2 writes, with OpenAI's pretrained weights (548 MB to download once)",
             "  nox -s train    train your GPT-2 on Shakespeare and watch the loss fall"
             + (" (after bonus e10, your training step)" if any(r.exercise.id == "e10" for r in bonus) else ""),
             "  the bonus katas, in any order:"]
    lines += [f"    {r.exercise.id}  {r.exercise.title}: nox -s check -- {r.exercise.id}" for r in bonus]
    return lines
