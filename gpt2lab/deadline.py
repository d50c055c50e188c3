"""A time limit per test, so that a loop that never ends cannot hang `nox -s check` in silence.

Loaded by gpt2lab.check with `-p gpt2lab.deadline --kata-time-limit SECONDS` (it works in pytest-xdist's
workers too). Each test's setup and call run under a timer (SIGALRM, on the main thread); when it
rings, the learner's code is interrupted where it is, and the test fails with a message that names
the line it was stopped on and suggests a loop that never ends. When it was stopped in the
learner's code, the rest of that exercise, and every exercise built on the file that looped, then
fail at once ("not run") instead of each waiting for the limit again. A watchdog thread ends the whole process, saying why, if the timer cannot
interrupt (code stuck inside one call into C for much longer than the limit).

The normal time of a test is a few seconds at most (the 124M-sized cases, on a 2-core CPU); the
default limit is far past it. Where there is no SIGALRM (Windows) or no main thread, tests run
without a limit.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

import pytest

from gpt2lab import catalog
from gpt2lab.i18n import _
from gpt2lab.pytest_plugin import exercise_of
from gpt2lab.verdict import KataFailure

OPTION = "--kata-time-limit"


class TimeLimitExceeded(KataFailure):
    """A test ran past the time limit; raised inside the learner's code by the timer."""


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("gpt2lab").addoption(OPTION, type=float, default=None,
                                         help="seconds each test may run before it is stopped (none: no limit)")


def pytest_configure(config: pytest.Config) -> None:
    seconds = config.getoption(OPTION)
    if seconds and hasattr(signal, "SIGALRM"):
        config.pluginmanager.register(Deadline(config, seconds), "gpt2lab-deadline")


class Deadline:
    """One per pytest session: arms the timer around each test and remembers what ran too long."""

    def __init__(self, config: pytest.Config, seconds: float):
        self.seconds = seconds
        root = Path(config.getoption("--impl-root") or config.rootpath).resolve()
        self.learner_dir = root / config.getoption("--impl")
        self.item: pytest.Item | None = None
        self.armed = False
        self.stopped: dict[str, str] = {}  # exercise id -> the test of it that was stopped
        self.looped: dict[str, str] = {}  # exercise id whose file was running -> that test

    # -- the hooks ----------------------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        exercise = exercise_of(item)
        if exercise is None:
            return
        if exercise.id in self.stopped:
            raise KataFailure(_("not run: an earlier case of {exercise}, {test}, ran past the time limit "
                                "(see that case)").format(exercise=exercise.id, test=self.stopped[exercise.id]))
        culprit = next((e for e in sorted(catalog.requirements(exercise.id)) if e in self.looped), None)
        if culprit is not None:
            raise KataFailure(_("not run: it builds on {culprit}, whose code ran past the time limit in "
                                "{test}: fix {culprit} first").format(culprit=culprit, test=self.looped[culprit]))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem):
        """Setup, call and teardown of one test, under the timer."""
        if threading.current_thread() is not threading.main_thread() or exercise_of(item) is None:
            return (yield)
        self.item = item
        previous = signal.signal(signal.SIGALRM, self._ring)
        watchdog = threading.Timer(2 * self.seconds + 30, self._give_up, args=(item.nodeid,))
        watchdog.daemon = True
        self.armed = True
        signal.setitimer(signal.ITIMER_REAL, self.seconds)
        watchdog.start()
        try:
            return (yield)
        finally:
            self.armed = False  # first: a ring that is already on its way does nothing now
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
            watchdog.cancel()
            self.item = None

    # -- when the time is up ------------------------------------------------------------------

    def _ring(self, signum, frame) -> None:
        if not self.armed or self.item is None:
            return
        self.armed = False  # once per test
        item = self.item
        exercise = exercise_of(item)
        name = _test_name(item)
        where, culprit = self._where(frame)
        if where is not None:  # stopped in the learner's code: the next cases would loop too
            self.stopped[exercise.id] = name
        if culprit is not None:
            self.looped.setdefault(culprit, _("{exercise}'s {test}").format(exercise=exercise.id, test=name))
        raise TimeLimitExceeded(self._message(item, where), diagnosis="time limit")

    def _where(self, frame) -> tuple[str | None, str | None]:
        """Where the learner's code was when the timer rang, and the exercise that file belongs to."""
        stack = []
        while frame is not None:
            stack.append(frame)
            frame = frame.f_back
        for f in stack:  # innermost first
            path = Path(f.f_code.co_filename)
            if path.is_relative_to(self.learner_dir):
                rel = path.relative_to(self.learner_dir.parent)
                line = _source_line(path, f.f_lineno)
                exercise = next((e.id for e in catalog.EXERCISES if e.module == path.stem), None)
                return _("  {path}:{line} in {function}\n    {text}").format(
                    path=rel, line=f.f_lineno, function=f.f_code.co_name, text=line), exercise
        return None, None

    def _message(self, item: pytest.Item, where: str | None) -> str:
        exercise = exercise_of(item)
        retry = f"nox -s check -- {exercise.id} --time-limit {max(60, int(4 * self.seconds))}"
        if where is None:
            return _("stopped after {seconds:g} s, the time limit (this test normally takes a few "
                     "seconds), outside your code.\nIf this machine is only slow, allow more time: {retry}").format(
                seconds=self.seconds, retry=retry)
        return _("stopped after {seconds:g} s, the time limit (this test normally takes a few seconds), "
                 "while your code was running here:\n{where}\n"
                 "A loop that never ends? Check that each `while` loop changes what its condition tests, "
                 "and that a loop over a list does not add to that list.\n"
                 "(If this machine is only slow, allow more time: {retry})").format(
            seconds=self.seconds, where=where, retry=retry)

    def _give_up(self, nodeid: str) -> None:
        """The timer could not interrupt (stuck in one call into C): end the process, saying why."""
        sys.stderr.write("\ngpt2lab: " + _(
            "{test} is still running {seconds:g} s after it started, and cannot be interrupted (stuck inside "
            "one torch call?). The check is stopped: look for a loop that never ends or a huge tensor in that "
            "exercise.").format(test=nodeid, seconds=2 * self.seconds + 30) + "\n")
        sys.stderr.flush()
        os._exit(124)


def _test_name(item: pytest.Item) -> str:
    callspec = getattr(item, "callspec", None)
    name = item.originalname if isinstance(item, pytest.Function) else item.name
    return f"test {name}" + (f"[{callspec.id}]" if callspec else "")


def _source_line(path: Path, lineno: int) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()[lineno - 1].strip()
    except (OSError, IndexError):
        return ""

