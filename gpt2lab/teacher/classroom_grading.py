"""Grade a class in one command: `nox -s grade -- --class PATH...` (who is in it: gpt2lab.teacher.gradebook).

- One kata seed for the whole class, drawn once and recorded (in every grades.json and in
  gradebook.json); a later run of the same class reuses it, unless --kata-seed is given.
- Every submission is graded by gpt2lab.teacher.grade.grade, as `--submission` grades one, `jobs`
  submissions at once (one per judge process of a JudgePool, whose sandboxes and references serve
  the whole class). A submission whose grade raises is recorded as "crashed" for every exercise,
  with the reason, and the class goes on; Ctrl-C stops, and what was graded is kept (a submission
  interrupted halfway writes nothing).
- The grades are written under OUT, never into the submissions (a student's repository could hold
  a grades.json of its own): OUT/<folder>/grades.json, with OUT/<folder>/stamp.json next to it, the
  fingerprint of what was graded: a hash of the submission's exercise files, of the grader (its code,
  suites and data, torch's version), the seed, the exercises and the limits. A later run grades again
  only the submissions whose fingerprint changed (--regrade: all of them).
- Then OUT/gradebook.csv and OUT/gradebook.json: one row a student.
- A progress bar on stderr with an estimate of the time left; one line per submission when stderr is
  not a terminal (a log, CI).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import TextIO

from gpt2lab import catalog
from gpt2lab.i18n import _, language
from gpt2lab.teacher import gradebook, sandbox
from gpt2lab.teacher.grade import SandboxMissing, grade
from gpt2lab.teacher.grades import ROOT, SCHEMA_ID, Config, entry
from gpt2lab.teacher.gradebook import Student
from gpt2lab.teacher.pool import JudgePool

# What the grader is made of: a change here grades every submission again.
GRADER_PARTS = ("gpt2lab", "tests/katas", "tests/conftest.py", "exercises/__init__.py")


def grade_class(students: list[Student], out: Path, exercises: list[catalog.Exercise] | None = None, *,
                seed: int | None = None, regrade: bool = False, config: Config | None = None,
                timeout: float | None = None, memory: int | None = None, device: str = "auto",
                use_sandbox: bool = True, jobs: int | None = None, stream: TextIO | None = None) -> dict:
    """Grade every student of the class into `out`; return the gradebook document (also written)."""
    import dataclasses

    import torch

    config = config or Config.load()
    exercises = list(exercises or catalog.EXERCISES)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
    if use_sandbox and (why := sandbox.probe()):
        raise SandboxMissing(why)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    seed = seed if seed is not None else gradebook.read_seed(out)
    seed = seed if seed is not None else secrets.randbelow(999_999) + 1
    options = {"kata_seed": seed, "exercises": [e.id for e in exercises], "device": device,
               "timeout": config.timeout if timeout is None else float(timeout),
               "memory": config.memory if memory is None else int(memory), "sandbox": use_sandbox,
               "config": dataclasses.asdict(config), "grader": grader_version(),
               "language": language()}  # the explanations' (grade --lang): another language, another grade
    progress = Progress(len(students), stream if stream is not None else sys.stderr)
    stop = threading.Event()  # Ctrl-C: no submission starts, none half graded is written
    with JudgePool(jobs, whole=True) as pool:  # judges kept for the class: the references are computed once
        def one(student: Student) -> dict | None:
            if stop.is_set():
                return None
            try:
                return _student(student, out, exercises, options, pool, progress, stop, regrade=regrade,
                                seed=seed, config=config, timeout=timeout, memory=memory, device=device,
                                use_sandbox=use_sandbox)
            except BaseException:  # Ctrl-C, a missing sandbox: the next submission must not start
                stop.set()
                raise

        threads = ThreadPoolExecutor(pool.jobs)  # a submission per judge, `jobs` at once
        progress.parallel = min(pool.jobs, len(students)) or 1
        try:
            rows = list(threads.map(one, students))
        finally:
            stop.set()
            threads.shutdown(wait=False, cancel_futures=True)
    progress.close()
    book = gradebook.document(rows, exercises, config, seed=seed, grader=str(ROOT),
                              graded_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    gradebook.write(out, book)
    return book


def _student(student: Student, out: Path, exercises: list[catalog.Exercise], options: dict, pool: JudgePool,
             progress: Progress, stop: threading.Event, *, regrade: bool, seed: int, config: Config,
             **grading) -> dict | None:
    """Grade one student (unless unchanged since the last run); their gradebook row (None: stopped)."""
    folder = out / student.key
    stamp = {**options, "files": files_hash(student.folder)}
    previous = None if regrade else _unchanged(folder, stamp)
    progress.start(student)
    began = time.monotonic()
    if previous is not None:
        grades, how = previous, "unchanged"
    else:
        grades, how = _grade_one(student, exercises, seed=seed, config=config, pool=pool, **grading)
        if stop.is_set():  # its judge was stopped halfway: these grades are not its own
            return None
        folder.mkdir(exist_ok=True)
        (folder / "stamp.json").unlink(missing_ok=True)  # written last: a stamp vouches for its grades
        (folder / "grades.json").write_text(json.dumps(grades, indent=1) + "\n")
        if how == "graded":
            (folder / "stamp.json").write_text(json.dumps(stamp, indent=1) + "\n")
    seconds = time.monotonic() - began
    progress.done(student, grades, how, seconds)
    return gradebook.row(student, grades, graded=how, seconds=seconds, grades_path=f"{student.key}/grades.json")


def _grade_one(student: Student, exercises: list[catalog.Exercise], *, seed: int, config: Config,
               pool: JudgePool, **options) -> tuple[dict, str]:
    """(grades.json, "graded") or, when the grader raised, a document that says why and "crashed"."""
    try:
        return grade(student.folder, exercises, seed=seed, config=config, pool=pool, **options), "graded"
    except FileNotFoundError as error:  # no exercises/: a repository that was never worked on, or not cloned
        return failed(student.folder, exercises, config, seed=seed, status="missing", reason=str(error),
                      **options), "graded"
    except (KeyboardInterrupt, SandboxMissing):
        raise
    except Exception as error:  # noqa: BLE001 — one submission's failure must cost nobody else anything
        return failed(student.folder, exercises, config, seed=seed, status="crashed",
                      reason=_("the grader failed on this submission: {error}").format(
                          error=f"{type(error).__name__}: {error}"),
                      **options), "crashed"


def failed(submission: Path, exercises: list[catalog.Exercise], config: Config, *, seed: int, status: str,
           reason: str, timeout: float | None = None, memory: int | None = None, device: str = "cpu",
           use_sandbox: bool = True, jobs: int | None = None) -> dict:
    """A grades.json (SCHEMA) that gives every exercise `status`, zero points and `reason`."""
    import torch

    entries = [entry(e, config, status, explanation=reason) for e in exercises]
    return {
        "schema": SCHEMA_ID, "submission": str(Path(submission).resolve()), "grader": str(ROOT),
        "graded_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "kata_seed": seed,
        "device": device, "torch": torch.__version__, "sandbox": use_sandbox,
        "limits": {"timeout_s": float(config.timeout if timeout is None else timeout),
                   "memory_mb": int(config.memory if memory is None else memory)},
        "partial_credit": config.partial_credit, "exercises": entries,
        "total": {"points": 0.0, "possible": round(sum(e["possible"] for e in entries if not e["bonus"]), 2),
                  "exercises_passed": 0, "exercises": len(entries)},
    }


def _unchanged(folder: Path, stamp: dict) -> dict | None:
    """The grades of the last run when it graded exactly this (same fingerprint); else None."""
    try:
        if json.loads((folder / "stamp.json").read_text()) != stamp:
            return None
        return json.loads((folder / "grades.json").read_text())
    except (OSError, ValueError):
        return None


def files_hash(submission: Path) -> str:
    """sha256 of what the grader reads of a submission: each catalogue exercise file, by name (a
    link by its target, a missing file as missing)."""
    digest = hashlib.sha256()
    for exercise in catalog.EXERCISES:
        path = Path(submission) / exercise.path
        digest.update(exercise.path.encode() + b"\0")
        if path.is_symlink():
            digest.update(b"link\0" + str(path.readlink()).encode())
        elif path.is_file():
            digest.update(b"file\0" + hashlib.sha256(path.read_bytes()).digest())
        else:
            digest.update(b"missing")
        digest.update(b"\0")
    return digest.hexdigest()


def grader_version(root: Path = ROOT) -> str:
    """sha256 of the grader's files (GRADER_PARTS) and torch's and transformers' versions."""
    import importlib.metadata as metadata

    digest = hashlib.sha256()
    for part in GRADER_PARTS:
        base = root / part
        for path in sorted([base] if base.is_file() else base.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    for package in ("torch", "transformers"):
        try:
            digest.update(f"{package}=={metadata.version(package)}\0".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{package} missing\0".encode())
    return digest.hexdigest()


# ----------------------------------------------------------------------------------------------
# The progress bar
# ----------------------------------------------------------------------------------------------


class Progress:
    """`[#####.....] 3/10 alice ... about 2 min left` on one line of a terminal, redrawn; one line
    per submission anywhere else. The estimate is the mean time of the submissions graded so far
    (those skipped as unchanged cost nothing) times the submissions left, over how many are graded
    at once."""

    WIDTH = 20

    def __init__(self, total: int, stream: TextIO):
        self.total, self.stream, self.count = total, stream, 0
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.graded_seconds: list[float] = []
        self.began = time.monotonic()
        self.lock = threading.Lock()  # submissions are graded several at once
        self.parallel = 1  # how many at once

    def start(self, student: Student) -> None:
        if self.tty:
            with self.lock:
                self._draw(f"grading {student.name} ...")

    def done(self, student: Student, grades: dict, how: str, seconds: float) -> None:
        with self.lock:
            self._done(student, grades, how, seconds)

    def _done(self, student: Student, grades: dict, how: str, seconds: float) -> None:
        self.count += 1
        if how != "unchanged":
            self.graded_seconds.append(seconds)
        total = grades["total"]
        what = {"unchanged": "unchanged, not graded again", "crashed": "the grader failed on it"}.get(
            how, f"{seconds:.1f} s")
        line = (f"{student.name}: {gradebook.number(total['points'])}/{gradebook.number(total['possible'])} points, "
                f"{total['exercises_passed']}/{total['exercises']} passed ({what})")
        if self.tty:
            self.stream.write("\r\033[K" + line + "\n")
            self._draw("")
        else:
            self.stream.write(f"[{self.count}/{self.total}] {line}; {self.left()}\n")
        self.stream.flush()

    def left(self) -> str:
        remaining = self.total - self.count
        if remaining == 0:
            return f"done in {_duration(time.monotonic() - self.began)}"
        if not self.graded_seconds:
            return "time left unknown yet"
        mean = sum(self.graded_seconds) / len(self.graded_seconds)
        return f"about {_duration(remaining * mean / self.parallel)} left"

    def _draw(self, doing: str) -> None:
        filled = self.WIDTH * self.count // max(self.total, 1)
        bar = "#" * filled + "." * (self.WIDTH - filled)
        parts = [f"[{bar}] {self.count}/{self.total}", doing, self.left()]
        self.stream.write("\r\033[K" + " ".join(p for p in parts if p))
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
