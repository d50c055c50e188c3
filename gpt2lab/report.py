"""What `nox -s check` prints: the progress table, the first problem explained, what to do next."""

from __future__ import annotations

import sys

from gpt2lab import catalog
from gpt2lab.check import BLOCKED, FAILING, MISSING, NOT_STARTED, PASSED, ExerciseResult, counts
from gpt2lab.i18n import N_, _, language

OUTDATED = "out of date"  # shown, never computed: a result older than an exercise it builds on
MARKS = {PASSED: ("✔", "ok"), FAILING: ("✘", "XX"), NOT_STARTED: ("·", ".."),
         BLOCKED: ("⧗", "--"), MISSING: ("?", "??"), OUTDATED: ("↻", "~~")}
COLOURS = {PASSED: "32", FAILING: "31", NOT_STARTED: "2", BLOCKED: "33", MISSING: "35", OUTDATED: "36"}
MESSAGE_LINES = 4  # of each failing case's message, with -v
TITLE_WIDTH = 56  # the title column, wider when a title (in the learner's language) needs it
# a case's status as the verbose listing says it (the pytest plugin's keys)
CASE_STATUS = {"failed": N_("failed"), "error": N_("error"), "not_started": N_("not started"),
               "skipped": N_("skipped")}


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
    return (_("{n} case") if n == 1 else _("{n} cases")).format(n=n)


def title(exercise: catalog.Exercise) -> str:
    """The exercise's line in the learner's language."""
    return exercise.title_es if language() == "es" else exercise.title


def status_text(result: ExerciseResult) -> str:
    status = result.status
    if result.outdated_by:
        return _("out of date: {changed} changed; checking again").format(changed=", ".join(result.outdated_by))
    if status == BLOCKED:
        return _("blocked (needs {ids})").format(ids=", ".join(result.blocked_by))
    if status == PASSED:
        return _("passed ({cases})").format(cases=cases(len(result.graded)))
    if status == FAILING:
        return _("failing: {passed} of {cases} pass").format(passed=result.passed, cases=cases(len(result.graded)))
    return _(status)


def table(results: list[ExerciseResult], style: Style) -> list[str]:
    titles = [title(r.exercise) + (_(" (bonus)") if r.exercise.bonus else "") for r in results]
    width = max([TITLE_WIDTH, *map(len, titles)])
    lines = []
    for result, name in zip(results, titles):
        status = shown_status(result)
        lines.append(f"  {style.mark(status)} {result.exercise.id}  {name:<{width}} "
                     f"{style.paint(status_text(result), COLOURS[status])}")
    return lines


def explain(result: ExerciseResult, style: Style, *, verbose: bool = False) -> list[str]:
    """The first problem of one exercise, in full; with verbose, every case too."""
    exercise = result.exercise
    lines = []
    if verbose:
        lines.append(_("{id}: every case").format(id=exercise.id))
        previous = None
        for v in result.verdicts:
            name = v["test"] + (f"[{v['case']}]" if v["case"] else "")
            said = _(CASE_STATUS[v["status"]]) if v["status"] in CASE_STATUS else v["status"].replace("_", " ")
            lines.append(f"  {style.mark(_case_status(v))} {name}"
                         + (f"  ({said})" if v["status"] != "passed" else ""))
            message = _first_lines(v.get("message", "")) if v["status"] not in ("passed", "skipped") else []
            if message != previous:  # the same words under the next case too are said once
                lines += ["      " + line for line in message]
            previous = message or previous
        lines.append("")
    problem = result.first_problem()
    if problem is None:
        return lines
    if result.waiting_on:
        lines.append(_("{id} cannot run yet: it calls code of {ids} that is not written yet ({message}). "
                       "Do {first} first.").format(id=exercise.id, ids=", ".join(result.waiting_on),
                                                  message=problem["message"], first=result.waiting_on[0]))
        return lines
    if result.status == NOT_STARTED:
        lines.append(_("{id} is not started: open {path} and replace each `raise NotImplementedError` "
                       "with your code.").format(id=exercise.id, path=exercise.path))
        return lines
    if result.blocked_by:
        builds_on = (_("{id} builds on {ids}, which is not passing yet: fix {first} first.")
                     if len(result.blocked_by) == 1 else
                     _("{id} builds on {ids}, which are not passing yet: fix {first} first."))
        lines.append(builds_on.format(id=exercise.id, ids=", ".join(result.blocked_by), first=result.blocked_by[0]))
    name = problem["test"] + (f"[{problem['case']}]" if problem["case"] else "")
    lines.append(_("First problem in {id} ({path}), test {name}:").format(id=exercise.id, path=exercise.path,
                                                                         name=name))
    if problem["status"] == "not_started":
        lines.append(_("  not written yet: {message}").format(message=problem["message"]))
    else:
        lines += ["  " + line for line in problem["message"].splitlines()]
    return lines


def _first_lines(message: str, n: int = MESSAGE_LINES) -> list[str]:
    """The first lines of a case's message, without the "case: ..." line the case name repeats."""
    lines = [line for line in message.splitlines() if line.strip()]
    if lines and lines[0].startswith(("case: ", _("case: {case}").format(case=""))):
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
        lines += ["", _("  progress {bar} {done}/{total} passed").format(bar=style.bar(done, len(results)),
                                                                          done=done, total=len(results))]
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
        step = (_("Next: {id} — {path}. A hint: `nox -s hint -- {id}`.") if verbose else
                _("Next: {id} — {path}. Details: `nox -s check -- {id} -v`; a hint: `nox -s hint -- {id}`."))
        lines.append(step.format(id=target.id, path=target.path))
        return "\n".join(lines)
    return "\n".join(lines + _finished(results))


def _checking_again(outdated: list[ExerciseResult]) -> str:
    ids = ", ".join(r.exercise.id for r in outdated)
    changed = sorted({e for r in outdated for e in r.outdated_by})
    said = (_("{ids} is out of date ({changed} changed since they were checked): the next step comes once "
              "they are checked again.") if len(outdated) == 1 else
            _("{ids} are out of date ({changed} changed since they were checked): the next step comes once "
              "they are checked again."))
    return said.format(ids=ids, changed=", ".join(changed))


def _finished(results: list[ExerciseResult]) -> list[str]:
    """Nothing that counts is left to do: say so, and what comes next."""
    untested = [r.exercise.id for r in results if r.status == MISSING]
    if untested:
        return [_("Everything with tests passes; no hidden suite found for {ids}.").format(ids=", ".join(untested))]
    if len(results) == 1:
        return [_("{id} passes. Run `nox -s check` for the whole course.").format(id=results[0].exercise.id)]
    if not {e.id for e in catalog.EXERCISES if not e.bonus} <= {r.exercise.id for r in results}:
        ids = ", ".join(r.exercise.id for r in results)
        return [_("{ids}: every one checked passes. Run `nox -s check` for the whole course.").format(ids=ids)]
    core = [r for r in results if not r.exercise.bonus]
    bonus = [r for r in results if r.exercise.bonus and r.status != PASSED]
    if not bonus:
        return [_("All done: every exercise passes. Try `nox -s demo` to see your GPT-2 write, and "
                  "`nox -s train` to train one.")]
    first, last = (core[0].exercise.id, core[-1].exercise.id) if core else ("", "")
    train = _("train your GPT-2 on Shakespeare and watch the loss fall")
    if any(r.exercise.id == "e10" for r in bonus):
        train += _(" (after bonus e10, your training step)")
    lines = [_("The core course passes ({first} to {last}): your GPT-2 is complete.").format(first=first, last=last)
             if core else _("Every exercise started passes."), _("What next:"),
             "  nox -s demo     " + _("your GPT-2 writes, with OpenAI's pretrained weights (548 MB to download once)"),
             "  nox -s train    " + train,
             "  " + _("the bonus katas, in any order:")]
    lines += [f"    {r.exercise.id}  {title(r.exercise)}: nox -s check -- {r.exercise.id}" for r in bonus]
    return lines
