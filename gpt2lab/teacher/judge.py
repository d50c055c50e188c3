"""The judge: a pytest plugin that answers the suites' `kata` fixture with a worker's proxies.

The suites run in the grader's process as they do in `nox -s check`: they draw every case from
the seed, build the reference and the classic mistakes, and compare. Only what the learner's
code computes is asked of a worker, one per exercise (tests marked `pretrained`, e06's
from_pretrained, get a second worker that can import transformers). In the sandbox, each exercise's worker is
forked from a zygote that imported torch once (sandbox.Zygote; the pretrained one has imported
transformers too); it gets the exercise's time limit from its first request and is stopped when
the exercise's last test is done. A worker that stops (time, memory, crash) fails its own
exercise. A judge process that grades a class keeps its zygotes from one submission to the next
(sandbox.Kept).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from gpt2lab import catalog
from gpt2lab.teacher import sandbox
from gpt2lab.teacher.remote import Connection, WorkerGone


class Judge:
    name = "gpt2lab-judge"

    def __init__(self, exercises: Path, *, use_sandbox: bool = True, device: str = "cpu", threads: int = 1,
                 limits: sandbox.Limits = sandbox.Limits(), timeout: float = 300.0, logs: Path | None = None,
                 kept: sandbox.Kept | None = None):
        self.exercises, self.use_sandbox, self.device, self.threads = exercises, use_sandbox, device, threads
        self.limits, self.timeout, self.logs = limits, timeout, logs
        self.started: dict[tuple[str, bool], Connection | WorkerGone] = {}
        self.deadlines: dict[str, float] = {}
        self.stopped: dict[str, WorkerGone] = {}  # exercise -> why its worker was stopped
        self.order: list[str] = []
        self.current: str | None = None
        self.seconds: dict[str, float] = {}  # exercise -> from its first request to its last test
        self.zygotes: dict[bool, sandbox.Zygote] = {}  # pretrained or not -> its zygote
        self.kept = kept

    # -- workers -----------------------------------------------------------------------------------

    def _start(self, exercise: str, pretrained: bool) -> Connection | WorkerGone:
        key = (exercise, pretrained)
        if key not in self.started:
            log = self.logs / f"{exercise}{'-pretrained' if pretrained else ''}.log" if self.logs else None
            try:
                if self.use_sandbox:
                    conn = self._zygote(pretrained).spawn(exercise)
                else:
                    conn = sandbox.start(self.exercises, sandbox=False, pretrained=pretrained, device=self.device,
                                         threads=self.threads, limits=self.limits, log=log, label=exercise)
                conn.on_gone = lambda gone, e=exercise: self.stopped.setdefault(e, gone)
            except WorkerGone as gone:
                conn = gone
            self.started[key] = conn
        return self.started[key]

    def _zygote(self, pretrained: bool) -> sandbox.Zygote:
        if pretrained not in self.zygotes:
            options = dict(pretrained=pretrained, device=self.device, threads=self.threads, limits=self.limits)
            if self.kept is not None:
                self.zygotes[pretrained] = self.kept.zygote(self.exercises, **options)
            else:
                log = self.logs / f"zygote{'-pretrained' if pretrained else ''}.log" if self.logs else None
                self.zygotes[pretrained] = sandbox.Zygote(self.exercises, log=log, **options)
        return self.zygotes[pretrained]

    def connection(self, exercise: str, pretrained: bool = False) -> Connection:
        if exercise in self.stopped:
            raise self.stopped[exercise]
        conn = self._start(exercise, pretrained)
        if isinstance(conn, WorkerGone):
            self.stopped.setdefault(exercise, conn)
            raise conn
        deadline = self.deadlines.setdefault(exercise, time.monotonic() + self.timeout)
        conn.deadline = deadline
        return conn

    def _finish(self, exercise: str) -> None:
        if exercise in self.deadlines:
            self.seconds[exercise] = time.monotonic() - (self.deadlines[exercise] - self.timeout)
        for key in [k for k in self.started if k[0] == exercise]:
            conn = self.started.pop(key)
            if isinstance(conn, Connection):
                sandbox.close(conn)

    def close(self) -> None:
        for exercise in {k[0] for k in self.started}:
            self._finish(exercise)
        if self.kept is not None:
            self.kept.release()
        else:
            for zygote in self.zygotes.values():
                zygote.close()
        self.zygotes.clear()

    # -- pytest hooks ------------------------------------------------------------------------------

    def pytest_configure(self, config) -> None:
        from gpt2lab.pytest_plugin import JUDGE

        config.stash[JUDGE] = self

    def pytest_collection_modifyitems(self, items) -> None:
        for item in items:
            marker = item.get_closest_marker("kata")
            if marker and marker.args[0] not in self.order:
                self.order.append(marker.args[0])

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item) -> None:
        marker = item.get_closest_marker("kata")
        exercise = marker.args[0] if marker else None
        if exercise != self.current:
            if self.current is not None:
                self._finish(self.current)
            self.current = exercise

    def pytest_collection_finish(self, session) -> None:
        """Start what takes seconds to import while the first tests run: the zygotes (torch, and
        transformers for e06's from_pretrained)."""
        if not self.use_sandbox:
            return
        if self.order:
            self._zygote(False)
        if any(item.get_closest_marker("pretrained") for item in session.items):
            self._zygote(True)

    def pytest_sessionfinish(self) -> None:
        self.close()

    def module(self, item, exercise: catalog.Exercise):
        pretrained = item.get_closest_marker("pretrained") is not None
        return self.connection(exercise.id, pretrained).module(f"exercises.{exercise.module}")
