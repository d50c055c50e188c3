"""Judge processes that outlive one submission: a class pays for torch, transformers and the
references once per core, not once per student.

A `JudgePool` keeps `jobs` judge processes (`python -m gpt2lab.teacher.pool`), each serving one
group of exercises at a time: a line of JSON in (the group and the grading spec), a line out when
its entries are written. Graded with the same seed, every submission after the first finds the
reference modules and outputs already in the judges' caches, and the sandboxes already started
(sandbox.Kept): their zygotes have imported torch and transformers once for the whole class.

One submission is split among the judges, so that it is graded as soon as possible. A class
(`whole=True`) gives each judge a whole submission instead, several submissions at once (one
thread each): no judge waits for another, and each submission needs one sandbox, not one per judge.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

from gpt2lab import catalog
from gpt2lab.teacher.grades import ROOT


# Seconds an exercise took to judge, for the first split of a class (later ones use what was measured).
EXPECTED = {"e01": 1.5, "e02": 2.0, "e03": 0.2, "e04": 1.6, "e05": 0.6, "e06": 7.0, "e07": 1.1, "e08": 0.8,
            "e09": 1.6, "e10": 2.1}


def split(exercises: list[catalog.Exercise], jobs: int, seconds: dict[str, float]) -> list[list[catalog.Exercise]]:
    """The exercises in `jobs` groups of about equal time (longest first, each to the least loaded
    group), each group in the catalogue's order."""
    groups: list[list[catalog.Exercise]] = [[] for _ in range(jobs)]
    load = [0.0] * jobs
    for exercise in sorted(exercises, key=lambda e: -seconds.get(e.id, 1.0)):
        i = load.index(min(load))
        groups[i].append(exercise)
        load[i] += seconds.get(exercise.id, 1.0)
    order = {e.id: n for n, e in enumerate(catalog.EXERCISES)}
    return [sorted(g, key=lambda e: order[e.id]) for g in groups if g]


class JudgePool:
    def __init__(self, jobs: int | None = None, *, whole: bool = False):
        self.jobs = max(1, jobs or os.cpu_count() or 1)
        self.whole = whole  # a class: each judge takes whole submissions, `jobs` of them at once
        self.processes: list[subprocess.Popen | None] = [None] * self.jobs
        self.idle: queue.SimpleQueue[int] = queue.SimpleQueue()
        for i in range(self.jobs):
            self.idle.put(i)
        self.lock, self.taking = threading.Lock(), threading.Lock()
        self.seconds = dict(EXPECTED)  # updated with each submission's figures

    def __enter__(self) -> JudgePool:
        return self

    def __exit__(self, kind, *exc) -> None:
        self.close(graceful=kind is None)

    def _process(self, i: int) -> subprocess.Popen:
        with self.lock:
            if self.processes[i] is None or self.processes[i].poll() is not None:  # new, or it died
                self.processes[i] = subprocess.Popen([sys.executable, "-m", "gpt2lab.teacher.pool"], cwd=ROOT,
                                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            return self.processes[i]

    def judge(self, exercises: list[catalog.Exercise], spec: dict) -> dict[str, dict]:
        """Every exercise's grades.json entry: from one idle judge (`whole`), else shared among all."""
        groups = [exercises] if self.whole else split(exercises, self.jobs, self.seconds)
        with self.taking:  # whole: waits for a judge to be free
            taken = [self.idle.get() for _ in groups]
        judged: dict[str, dict] = {}
        try:
            sent = []
            for i, group in zip(taken, groups):
                out = Path(spec["work"]) / f"judged-{group[0].id}.json"
                process = self._process(i)
                try:
                    process.stdin.write(json.dumps({**spec, "ids": [e.id for e in group], "out": str(out)}) + "\n")
                    process.stdin.flush()
                except OSError:
                    continue
                sent.append((process, out))
            for process, out in sent:
                for line in process.stdout:  # until this group's answer (or the judge's end)
                    if line.strip() == f"done {out}":
                        if out.exists():
                            judged.update(json.loads(out.read_text()))
                        break
        finally:
            for i in taken:
                self.idle.put(i)
        with self.lock:
            for exercise_id, graded in judged.items():
                self.seconds[exercise_id] = graded.get("seconds") or self.seconds.get(exercise_id, 1.0)
        return judged

    def close(self, graceful: bool = True) -> None:
        """No judge (and so no worker) outlives the pool. Graceful: each judge, told there is no
        more work, closes its sandboxes and waits until every process in them is gone; a judge
        that does not end within 30 s, or any judge after Ctrl-C, is killed (its sandboxes then
        die with it, a moment later)."""
        with self.lock:
            for process in self.processes:
                if process is not None and process.poll() is None:
                    try:
                        process.stdin.close()
                    except OSError:
                        pass
            for process in self.processes:
                if process is not None and process.poll() is None:
                    try:
                        process.wait(timeout=30 if graceful else 0.001)
                    except subprocess.TimeoutExpired:
                        process.kill()
                        process.wait()
            self.processes = [None] * self.jobs


def serve() -> None:
    """A judge process: one group of exercises per line of stdin, 'done OUT' on stdout when judged."""
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # anything printed while judging goes to stderr, not into the answers
    import torch

    from gpt2lab.teacher.grade import judge_exercises

    from gpt2lab.teacher.sandbox import Kept

    torch.set_num_threads(1)
    kept = Kept()  # the sandboxes, from one submission to the next
    try:
        for line in sys.stdin:
            job = json.loads(line)
            Path(job["out"]).write_text(json.dumps(judge_exercises(job["ids"], job, kept if job["sandbox"] else None)))
            answers.write(f"done {job['out']}\n")
            answers.flush()
    finally:
        kept.close()  # every process of its sandboxes gone, then no interpreter teardown to wait for
        answers.flush()
        os._exit(0)


if __name__ == "__main__":
    serve()
