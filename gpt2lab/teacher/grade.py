"""Grade a submission: points per exercise, written to grades.json, from the teacher's own suites.

How a grade is made (`nox -s grade -- --submission DIR`):

- The grader is this repository. Of the submission, only the regular files exercises/eNN_*.py are
  read (a symbolic link is refused, never followed), as bytes, into a fresh folder with the
  grader's own exercises/__init__.py.
- A seed is drawn at grading time (recorded in grades.json): every case's weights and inputs are
  new, there is no expected value to paste back.
- The suites run here, in the judge (gpt2lab.teacher.judge): they build every case, the reference
  and the classic mistakes. The submission's code runs only in sandboxed workers (one per
  exercise, gpt2lab.teacher.sandbox), which answer with plain data; the comparisons are made here.
  A worker that runs out of time or memory, crashes or misbehaves fails its own exercise.
- grades.json is written by the caller after every worker has ended; nothing of the submission
  can reach it.
- The explanations (and the verdicts' messages in "failures") are for the student, in the language
  of `grade --lang` (GPT2LAB_LANG, which the judges inherit; else the locale); statuses and keys
  stay English.
"""

from __future__ import annotations

import ast
import dataclasses
import os
import secrets
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from gpt2lab import catalog, check
from gpt2lab.i18n import _
from gpt2lab.teacher import sandbox
from gpt2lab.teacher.grades import ROOT, SCHEMA_ID, Config, entry
from gpt2lab.teacher.judge import Judge
from gpt2lab.teacher.pool import JudgePool

MAX_FILE = 1 << 20  # bytes: an exercise file larger than this is not read


class SandboxMissing(RuntimeError):
    """bubblewrap cannot run here, and --no-sandbox was not given."""


def grade(submission: Path, exercises: list[catalog.Exercise] | None = None, *, seed: int | None = None,
          config: Config | None = None, timeout: float | None = None, memory: int | None = None,
          device: str = "auto", use_sandbox: bool = True, jobs: int | None = None, pool=None,
          progress=None) -> dict:
    """Grade `submission`'s exercises/ with this repository's suites; return the grades document.

    jobs: judge processes at once (default: the CPU cores), each with its share of the exercises.
    pool: a gpt2lab.teacher.pool.JudgePool to judge with (a class: its judges keep their caches)."""
    import torch

    config = config or Config.load()
    exercises = list(exercises or catalog.EXERCISES)
    seed = secrets.randbelow(999_999) + 1 if seed is None else seed
    timeout = config.timeout if timeout is None else timeout
    memory = config.memory if memory is None else memory
    device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
    source = Path(submission).resolve() / "exercises"
    if not source.is_dir():
        raise FileNotFoundError(_("{submission} has no exercises/ folder: give the root of a kata repository")
                                .format(submission=submission))
    if use_sandbox and (why := sandbox.probe()):
        raise SandboxMissing(why)

    work = Path(tempfile.mkdtemp(prefix="gpt2lab-grade-"))
    try:
        (work / "exercises").mkdir()
        shutil.copyfile(ROOT / "exercises" / "__init__.py", work / "exercises" / "__init__.py")
        early = {e.id: _read(e, source, work / "exercises", config) for e in catalog.EXERCISES}  # all:
        entries = {e.id: early[e.id] for e in exercises if early[e.id] is not None}  # e04 imports e02
        pending = [e for e in exercises if e.id not in entries]
        spec = {"work": str(work), "seed": seed, "device": device, "timeout": timeout, "memory": memory,
                "sandbox": use_sandbox, "config": dataclasses.asdict(config)}
        if not pending:
            judged = {}
        elif pool is not None:  # a class: judges that already hold this seed's references
            judged = pool.judge(pending, spec)
        elif (jobs or os.cpu_count() or 1) == 1:
            judged = judge_exercises([e.id for e in pending], spec)
        else:  # one judge process per core, at once: the references are computed on every core
            with JudgePool(jobs) as judges:
                judged = judges.judge(pending, spec)
        for exercise in pending:
            entries[exercise.id] = judged.get(exercise.id) or entry(
                exercise, config, "crashed", explanation=_("the grader's judge process ended without its result"))
            _blocked_by_unjudged(entries[exercise.id], early)
            if progress:
                progress(entries[exercise.id])
    finally:
        shutil.rmtree(work, ignore_errors=True)

    ordered = [entries[e.id] for e in exercises]
    required = [e for e in ordered if not e["bonus"]]
    return {
        "schema": SCHEMA_ID,
        "submission": str(Path(submission).resolve()),
        "grader": str(ROOT),
        "graded_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "kata_seed": seed,
        "device": device,
        "torch": torch.__version__,
        "sandbox": use_sandbox,
        "limits": {"timeout_s": float(timeout), "memory_mb": int(memory)},
        "partial_credit": config.partial_credit,
        "exercises": ordered,
        "total": {"points": round(sum(e["points"] for e in ordered), 2),
                  "possible": round(sum(e["possible"] for e in required), 2),
                  "exercises_passed": sum(e["status"] == "passed" for e in ordered),
                  "exercises": len(ordered)},
    }


def judge_exercises(ids: list[str], spec: dict, kept: sandbox.Kept | None = None) -> dict[str, dict]:
    """Run the suites of `ids` in this process, against workers: their grades.json entries.
    kept: the zygotes of a judge process that grades a class, reused from submission to submission."""
    config = Config(**spec["config"])
    work, memory = Path(spec["work"]), int(spec["memory"])
    exercises = [catalog.BY_ID[i] for i in ids]
    logs = work / ("logs-" + "-".join(ids))
    logs.mkdir(exist_ok=True)
    judge = Judge(work / "exercises", use_sandbox=spec["sandbox"], device=spec["device"], threads=1,
                  timeout=float(spec["timeout"]), limits=sandbox.Limits(memory_mb=memory), logs=logs, kept=kept)
    try:
        results = check.run(exercises, impl="exercises-are-in-the-worker", impl_root=logs, device=spec["device"],
                            seed=int(spec["seed"]), plugins=[judge])
    except Exception as error:  # noqa: BLE001 — a fault of the grader: say it for every exercise
        return {e.id: entry(e, config, "crashed", explanation=_("the grader failed: {error}").format(error=error))
                for e in exercises}
    finally:
        judge.close()
    return {r.exercise.id: _scored(r, judge, config, memory) for r in results}


def _blocked_by_unjudged(graded: dict, early: dict[str, dict | None]) -> None:
    """A failing exercise built on one graded without running (a link, missing, not UTF-8, refused)
    is blocked by it, as check says of one built on an exercise that does not pass (the judges never
    saw those, so their link_blocked cannot). Its points are the same."""
    unjudged = sorted(r for r in catalog.requirements(graded["id"]) if early.get(r) is not None)
    if graded["status"] == "failing" and unjudged:
        graded["status"] = "blocked"
        graded["explanation"] = _("needs {ids}, which do not pass; ").format(ids=", ".join(unjudged)) + (
            graded.get("explanation") or "")


def _read(exercise: catalog.Exercise, source: Path, target: Path, config: Config) -> dict | None:
    """Copy one exercise file; an entry when it cannot be graded at all (missing, a link, ...)."""
    path = source / f"{exercise.module}.py"
    if path.is_symlink():
        return entry(exercise, config, "integrity", explanation=_(
            "{file} is a symbolic link: the grader reads only regular files (copy the file itself into "
            "exercises/)").format(file=exercise.path),
                     violations=[{"file": exercise.path, "line": 0, "message": _("a symbolic link")}])
    if not path.is_file():
        return entry(exercise, config, "missing",
                     explanation=_("{file} is not in the submission").format(file=exercise.path))
    with open(path, "rb") as f:
        data = f.read(MAX_FILE + 1)
    if len(data) > MAX_FILE:
        return entry(exercise, config, "crashed", explanation=_("{file} is larger than {size} MiB: not read")
                     .format(file=exercise.path, size=MAX_FILE >> 20))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[:error.start].count(b"\n") + 1
        return entry(exercise, config, "encoding", explanation=_(
            "{file} is not UTF-8 text: byte {byte} on line {line} (save the file as UTF-8; Python reads it so)")
                     .format(file=exercise.path, byte=f"{data[error.start]:#04x}", line=line))
    refused = _refused(exercise, text, config)
    (target / path.name).write_bytes(data)
    return refused


def _refused(exercise: catalog.Exercise, text: str, config: Config) -> dict | None:
    """The static check: a friendly zero for code that imports what the course forbids. Any file
    that cannot be parsed here is left to the worker, which says why it cannot be imported."""
    from gpt2lab import integrity

    try:
        ast.parse(text)
    except BaseException as error:  # noqa: BLE001 — SyntaxError, RecursionError, MemoryError, ...
        if isinstance(error, KeyboardInterrupt):
            raise
        return None
    from gpt2lab import builtin_rules  # the teacher's rules: built-ins that do the exercise for the learner

    uses = builtin_rules.refused(exercise.id, text, builtin_rules.load(), file=exercise.path)
    if uses:
        return entry(exercise, config, "integrity",
                     explanation=_("refused: {why}").format(why="; ".join(u["message"] for u in uses)),
                     violations=[{"file": u["file"], "line": u["line"], "message": u["message"]} for u in uses])
    found = integrity.scan_source(text, exercise.path)
    if not found:
        return None
    return entry(exercise, config, "integrity", violations=[v.as_dict() for v in found],
                 explanation=_("refused without running it: {why}").format(why="; ".join(map(str, found))))


def _scored(result: check.ExerciseResult, judge: Judge, config: Config, memory: int) -> dict:
    exercise, graded = result.exercise, result.graded
    passed = sum(v["status"] == "passed" for v in graded)
    failures = [{"test": v.get("test", "") + (f"[{v['case']}]" if v.get("case") else ""), "status": v["status"],
                 "message": v.get("message", "")} for v in graded if v["status"] != "passed"]
    seconds = judge.seconds.get(exercise.id, 0.0)
    stopped = judge.stopped.get(exercise.id)
    if stopped is not None:
        test = next((f["test"] for f in failures if f["message"] == str(stopped)), "")
        if stopped.reason == "timeout":
            explain = _("stopped after {seconds} s: look for a loop that never ends, or work far larger than the "
                        "shapes in the docstring").format(seconds=f"{judge.timeout:g}")
        elif stopped.reason == "memory":
            explain = _("went over {memory} MiB: look for a tensor far larger than the shapes in the docstring") \
                .format(memory=memory)
        else:
            explain = _("the exercise's worker stopped: {why}").format(why=stopped)
        return entry(exercise, config, stopped.reason, cases_passed=passed, cases=len(graded), seconds=seconds,
                     failures=failures,
                     explanation=explain + (" " + _("(in {test})").format(test=test) if test else ""))
    status = result.status
    memory_hit = any("MemoryError" in f["message"] or "can't allocate memory" in f["message"] for f in failures)
    explanation = None
    if memory_hit:
        status = "memory"
    if status == check.NOT_STARTED:
        explanation = _("not started: {file} still raises NotImplementedError").format(file=exercise.path)
    elif status != check.PASSED:
        first = result.first_problem()
        blocked = result.blocked_by
        explanation = (_("needs {ids}, which do not pass; ").format(ids=", ".join(blocked)) if blocked else "") + (
            f"{first.get('test', '')}: {first.get('message', '')}" if first else _("no case was collected"))
        if memory_hit:
            explanation = _("went over the memory limit of {memory} MiB; ").format(memory=memory) + explanation
    return entry(exercise, config, status, cases_passed=passed, cases=len(graded), seconds=seconds,
                 explanation=explanation, failures=failures)
