"""Run the hidden suites and say, per exercise, where the learner stands.

`run()` executes the suites in this process with pytest (so torch is imported once) and returns
one `ExerciseResult` per exercise; `render()` turns them into the progress table and the
explanation of the first problem. Both are used by `nox -s check`, the grader and the watcher.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from gpt2lab import catalog
from gpt2lab.i18n import N_, _
from gpt2lab.pytest_plugin import PROPERTY

ROOT = catalog.ROOT

# The statuses are English keys (the grader's JSON has them); the table shows them as _(status).
PASSED, FAILING, NOT_STARTED, BLOCKED, MISSING = (N_("passed"), N_("failing"), N_("not started"), N_("blocked"),
                                                  N_("no tests"))


@dataclass
class ExerciseResult:
    exercise: catalog.Exercise
    verdicts: list[dict] = field(default_factory=list)
    blocked_by: tuple[str, ...] = ()
    # exercises it builds on that changed since it was checked (watch mode): until it is checked
    # again, this result is shown as out of date, never as the current verdict
    outdated_by: tuple[str, ...] = ()

    @property
    def graded(self) -> list[dict]:
        return [v for v in self.verdicts if v["status"] != "skipped"]

    @property
    def passed(self) -> int:
        return sum(v["status"] == "passed" for v in self.graded)

    @property
    def status(self) -> str:
        graded = self.graded
        if not graded:
            return MISSING
        if all(v["status"] == "passed" for v in graded):
            return PASSED
        if all(v["status"] == "not_started" for v in graded):
            return NOT_STARTED
        return BLOCKED if self.blocked_by else FAILING

    @property
    def waiting_on(self) -> tuple[str, ...]:
        """Not started only because earlier exercises it calls are not written (none of its own
        code raised): e04 written, e02's Conv1D still a stub. Then those exercises come first."""
        if self.status != NOT_STARTED or any(v.get("in_exercise") == self.exercise.id for v in self.graded):
            return ()
        return tuple(r for r in self.blocked_by if r in self.raised_in)

    @property
    def raised_in(self) -> set[str]:
        """Other exercises whose files raised one of this exercise's failures."""
        return {v["in_exercise"] for v in self.graded
                if v["status"] != "passed" and v.get("in_exercise") not in (None, self.exercise.id)}

    def first_problem(self) -> dict | None:
        """The failure to explain first: a real failure before a part not written yet."""
        problems = [v for v in self.graded if v["status"] != "passed"]
        problems.sort(key=lambda v: v["status"] == "not_started")
        return problems[0] if problems else None


class _Collector:
    """A pytest plugin that keeps the verdicts our plugin attaches to each report."""

    def __init__(self):
        self.verdicts: list[dict] = []
        self.errors: list[str] = []

    def pytest_runtest_logreport(self, report):
        self.verdicts += [value for key, value in report.user_properties if key == PROPERTY]

    def pytest_collectreport(self, report):
        if report.failed:
            self.errors.append(str(report.longrepr))


def suite_files(suites: Path, exercises: list[catalog.Exercise]) -> list[Path]:
    return [suites / f"test_{exercise.module}.py" for exercise in exercises]


def run(exercises: list[catalog.Exercise], *, impl: str = "exercises", impl_root: Path = ROOT,
        suites: Path = ROOT / "tests" / "katas", device: str = "auto", seed: int = 0,
        workers: int = 0, extra: list[str] = (), plugins: list[object] = (),
        time_limit: float | None = None) -> list[ExerciseResult]:
    """Run the suites of `exercises` against `impl_root/impl` and collect the verdicts.

    `plugins` are more pytest plugin objects (the grader's judge); `time_limit`, seconds
    a test may run before it is stopped (gpt2lab/deadline.py; None: no limit)."""
    import pytest

    files = [f for f in suite_files(suites, exercises) if f.exists()]
    collector = _Collector()
    args = [*map(str, files), "--impl", impl, "--impl-root", str(impl_root), "--device", device,
            "--kata-seed", str(seed), "--rootdir", str(suites.parent.parent), "-p", "no:cacheprovider",
            "-q", "--no-header", "--tb=no", "-p", "no:randomly",
            # pytest's unraisable-exception plugin calls gc.collect() at exit: 0.4 s a run in watch mode
            "-p", "no:unraisableexception", *extra]
    if time_limit:
        args += ["-p", "gpt2lab.deadline", "--kata-time-limit", str(time_limit)]
    if workers:
        args += ["-n", str(workers)]
    quiet = open(os.devnull, "w")  # pytest's own dots and summary: the learner reads ours instead
    saved, sys.stdout = sys.stdout, quiet
    try:
        code = pytest.main(args, plugins=[collector, *plugins])
    finally:
        sys.stdout = saved
        quiet.close()
    if collector.errors:  # first: pytest reports collection errors as INTERRUPTED too
        raise RuntimeError(_("the hidden suites could not be collected:") + "\n" + "\n".join(collector.errors))
    if code == pytest.ExitCode.INTERRUPTED:
        raise KeyboardInterrupt
    if code in (pytest.ExitCode.INTERNAL_ERROR, pytest.ExitCode.USAGE_ERROR):
        raise RuntimeError(_("pytest could not run the hidden suites ({code}); see the message above").format(
            code=code.name))
    results = {e.id: ExerciseResult(e) for e in exercises}
    for verdict in collector.verdicts:
        results[verdict["exercise"]].verdicts.append(verdict)
    link_blocked(list(results.values()))
    return list(results.values())


def counts(result: ExerciseResult, named: bool = False) -> bool:
    """Whether a result decides if the course passes: a core exercise always; a bonus one once it
    is started, or when it was named on the command line."""
    exercise = result.exercise
    return result.status != MISSING and (not exercise.bonus or named or result.status != NOT_STARTED)


def course_passes(results: list[ExerciseResult], named: bool = False) -> bool:
    """Every result that counts passes: what `nox -s check` exits 0 for."""
    return all(r.status == PASSED for r in results if counts(r, named))


def link_blocked(results: list[ExerciseResult]) -> None:
    """Set each result's blocked_by: the exercises it builds on that do not pass.

    Those are the ones listed in its `requires` that were checked and do not pass, and those whose
    files raised one of its failures (known even when only this exercise was checked).
    """
    by_id = {r.exercise.id: r for r in results}
    for result in results:
        raised = result.raised_in
        candidates = [*result.exercise.requires, *sorted(raised - set(result.exercise.requires))]
        result.blocked_by = tuple(
            r for r in candidates
            if (r in by_id and by_id[r].status != PASSED) or (r not in by_id and r in raised))
