"""Grade a submission: points per exercise, written to grades.json, from the teacher's own suites.

How a grade is made (`nox -s grade -- --submission DIR`, or `python -m gpt2lab grade`):

- The grader is this repository: the copy of gpt2lab, tests/katas and grading.toml that runs the
  command (the teacher's, or a pristine checkout in the Classroom workflow). Nothing of the
  submission is imported except its exercise files: they are copied into a fresh temporary
  directory next to a pristine `exercises/__init__.py`, and the suites, the checker and the
  reference are the grader's. A student who edits tests/katas or gpt2lab in their repository
  changes nothing.
- A seed is drawn at grading time (`--kata-seed`, recorded in grades.json) so every case's weights
  and inputs are new: there is no expected value to paste back.
- Each exercise's copied file is checked statically first (gpt2lab.integrity.scan); a file that
  imports Hugging Face's GPT-2, the solutions or the grader scores zero with the reason.
- Each exercise then runs in its own process (`_child_main`) under a time limit (from the moment
  the process is ready, imports excluded) and a memory limit (RLIMIT_AS: what the exercise may
  allocate beyond the grader's own footprint; on CUDA the GPU share is capped instead and the
  parent watches the resident size), with the runtime guard (gpt2lab.integrity.Guard) installed
  before the learner's module is imported. An infinite loop or a huge allocation fails that
  exercise only; up to `jobs` exercises run at once.
- The child writes its verdicts signed with a key it read from its stdin before importing any
  learner code (HMAC-SHA256): a result file forged by the learner's code is refused.
- Points come from grading.toml (see `Config`): all or nothing by default, as GitHub Classroom
  scores a test, or in proportion to the cases passed.

grades.json follows SCHEMA (a JSON Schema, checked by `validate`). `classroom_workflow()` writes
.github/workflows/classroom.yml from the catalogue and grading.toml.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest

from gpt2lab import catalog

ROOT = Path(__file__).resolve().parent.parent  # the grader: this copy of the repository
CONFIG = ROOT / "grading.toml"
WORKFLOW = ROOT / ".github" / "workflows" / "classroom.yml"
SCHEMA_ID = "gpt2lab-grades/1"

# What an exercise's status in grades.json can be: the checker's, or why the grader stopped it.
STATUSES = ("passed", "failing", "not started", "blocked", "no tests",  # from gpt2lab.check
            "integrity", "timeout", "memory", "crashed", "missing")


# ----------------------------------------------------------------------------------------------
# Configuration
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    """grading.toml: points per exercise, partial credit, limits."""

    points: dict[str, float]  # every catalogue exercise -> points possible
    partial_credit: bool = False
    timeout: float = 300.0  # seconds per exercise, counted once its process is ready
    memory: int = 6144  # MiB an exercise may allocate beyond the grader's own footprint

    @classmethod
    def load(cls, path: Path = CONFIG) -> Config:
        data = _read_toml(path) if path.exists() else {}
        table = dict(data.get("points", {}))
        default = float(table.pop("default", 10))
        unknown = sorted(set(table) - set(catalog.BY_ID))
        if unknown:
            raise ValueError(f"{path.name}: [points] names {', '.join(unknown)}, which the catalogue "
                             f"does not have (exercises: {', '.join(catalog.BY_ID)})")
        points = {e.id: float(table.get(e.id, default)) for e in catalog.EXERCISES}
        scoring, limits = data.get("scoring", {}), data.get("limits", {})
        return cls(points=points, partial_credit=bool(scoring.get("partial_credit", False)),
                   timeout=float(limits.get("timeout", cls.timeout)),
                   memory=int(limits.get("memory", cls.memory)))


def _read_toml(path: Path) -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    with path.open("rb") as f:
        return tomllib.load(f)


# ----------------------------------------------------------------------------------------------
# grades.json: its schema, and a validator for the part of JSON Schema it uses
# ----------------------------------------------------------------------------------------------

_STR, _INT, _NUM, _BOOL = {"type": "string"}, {"type": "integer"}, {"type": "number"}, {"type": "boolean"}

SCHEMA: dict = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": SCHEMA_ID,
    "title": "grades.json, written by `nox -s grade`",
    "type": "object",
    "additionalProperties": False,
    "required": ["schema", "submission", "grader", "graded_at", "kata_seed", "device", "torch",
                 "limits", "partial_credit", "exercises", "total"],
    "properties": {
        "schema": {"const": SCHEMA_ID},
        "submission": _STR,  # the directory graded
        "grader": _STR,  # the repository whose suites graded it
        "graded_at": _STR,  # UTC, ISO 8601
        "kata_seed": _INT,  # base seed of every generated case
        "device": _STR,  # cpu / cuda
        "torch": _STR,
        "limits": {"type": "object", "additionalProperties": False, "required": ["timeout_s", "memory_mb"],
                   "properties": {"timeout_s": _NUM, "memory_mb": _INT}},
        "partial_credit": _BOOL,
        "exercises": {"type": "array", "items": {
            "type": "object",
            "additionalProperties": False,
            "required": ["id", "title", "bonus", "status", "points", "possible", "cases_passed",
                         "cases", "seconds", "explanation", "violations", "failures"],
            "properties": {
                "id": _STR,
                "title": _STR,
                "bonus": _BOOL,
                "status": {"enum": list(STATUSES)},
                "points": _NUM,
                "possible": _NUM,
                "cases_passed": _INT,
                "cases": _INT,
                "seconds": _NUM,
                "explanation": {"type": ["string", "null"]},  # null when every case passed
                "violations": {"type": "array", "items": {  # integrity findings
                    "type": "object", "additionalProperties": False, "required": ["file", "line", "message"],
                    "properties": {"file": _STR, "line": _INT, "message": _STR}}},
                "failures": {"type": "array", "items": {  # the cases that did not pass, explained
                    "type": "object", "additionalProperties": False, "required": ["test", "status", "message"],
                    "properties": {"test": _STR, "status": _STR, "message": _STR}}},
            },
        }},
        "total": {"type": "object", "additionalProperties": False,
                  "required": ["points", "possible", "exercises_passed", "exercises"],
                  "properties": {"points": _NUM,  # bonus exercises' points included
                                 "possible": _NUM,  # bonus exercises left out: they are extra credit
                                 "exercises_passed": _INT, "exercises": _INT}},
    },
}

_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


def validate(document: object, schema: dict = SCHEMA, path: str = "$") -> list[str]:
    """Errors of `document` against `schema` (type, const, enum, required, properties,
    additionalProperties, items: the keywords SCHEMA uses); empty when it is valid."""
    errors: list[str] = []
    types = schema.get("type")
    if types is not None:
        wanted = types if isinstance(types, list) else [types]
        if not any(_is(document, t) for t in wanted):
            return [f"{path}: expected {' or '.join(wanted)}, found {type(document).__name__}"]
    if "const" in schema and document != schema["const"]:
        errors.append(f"{path}: expected {schema['const']!r}, found {document!r}")
    if "enum" in schema and document not in schema["enum"]:
        errors.append(f"{path}: {document!r} is not one of {schema['enum']}")
    if isinstance(document, dict):
        properties = schema.get("properties", {})
        errors += [f"{path}: {key!r} is missing" for key in schema.get("required", []) if key not in document]
        if schema.get("additionalProperties") is False:
            errors += [f"{path}: unexpected {key!r}" for key in document if key not in properties]
        for key, sub in properties.items():
            if key in document:
                errors += validate(document[key], sub, f"{path}.{key}")
    if isinstance(document, list) and "items" in schema:
        for i, item in enumerate(document):
            errors += validate(item, schema["items"], f"{path}[{i}]")
    return errors


def _is(value: object, type_name: str) -> bool:
    if type_name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if type_name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, _TYPES[type_name])


# ----------------------------------------------------------------------------------------------
# The parent: one process per exercise
# ----------------------------------------------------------------------------------------------

_BOOT = ("import sys; sys.path.insert(0, sys.argv[1]); "
         "from gpt2lab.grading import _child_main; _child_main()")
STARTUP_LIMIT = 180.0  # seconds a process may take to import torch & co before it counts as crashed


@dataclass
class _Child:
    exercise: catalog.Exercise
    process: subprocess.Popen
    key: str
    files: dict[str, Path]
    started: float
    ready: float | None = None
    collected: int = 0
    running: str = ""  # the test that started last
    rss_limit: int | None = None  # kB, set when the child says it is ready
    killed: str | None = None  # "timeout" / "memory"
    progress_offset: int = 0


def grade(submission: Path, exercises: list[catalog.Exercise] | None = None, *, seed: int | None = None,
          config: Config | None = None, timeout: float | None = None, memory: int | None = None,
          device: str = "auto", jobs: int | None = None, static_check: bool = True,
          progress=None) -> dict:
    """Grade `submission`'s exercises/ with this repository's suites; return the grades document.

    static_check=False leaves only the runtime guard (the tests of the guard itself use it).
    progress: called with each exercise's entry as it is graded.
    """
    config = config or Config.load()
    exercises = list(exercises or catalog.EXERCISES)
    seed = secrets.randbelow(999_999) + 1 if seed is None else seed
    timeout = config.timeout if timeout is None else timeout
    memory = config.memory if memory is None else memory
    cpus = os.cpu_count() or 1
    jobs = max(1, min(jobs or min(cpus, 4), len(exercises)))
    source = Path(submission).resolve() / "exercises"
    if not source.is_dir():
        raise FileNotFoundError(f"{submission} has no exercises/ folder: give the root of a kata repository")

    work = Path(tempfile.mkdtemp(prefix="gpt2lab-grade-"))
    try:
        _copy_submission(source, work / "exercises")
        entries: dict[str, dict] = {}
        pending = []
        for exercise in exercises:
            early = _before_running(exercise, work / "exercises", config, static_check)
            if early is not None:
                entries[exercise.id] = early
                if progress:
                    progress(early)
            else:
                pending.append(exercise)
        meta = _run_children(pending, work, entries, config=config, seed=seed, timeout=timeout,
                             memory=memory, device=device, jobs=jobs, threads=max(1, cpus // jobs),
                             progress=progress)
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
        "device": meta.get("device", "cpu" if device == "auto" else device),
        "torch": meta.get("torch") or _installed_version("torch"),
        "limits": {"timeout_s": float(timeout), "memory_mb": int(memory)},
        "partial_credit": config.partial_credit,
        "exercises": ordered,
        "total": {"points": round(sum(e["points"] for e in ordered), 2),
                  "possible": round(sum(e["possible"] for e in required), 2),
                  "exercises_passed": sum(e["status"] == "passed" for e in ordered),
                  "exercises": len(ordered)},
    }


def _installed_version(name: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _copy_submission(source: Path, target: Path) -> None:
    """The learner's .py files, and the grader's own __init__.py (a package file is machinery)."""
    target.mkdir(parents=True)
    for path in sorted(source.glob("*.py")):
        if path.name != "__init__.py" and path.is_file():
            shutil.copyfile(path, target / path.name)
    shutil.copyfile(ROOT / "exercises" / "__init__.py", target / "__init__.py")


def _entry(exercise: catalog.Exercise, config: Config, status: str, *, cases_passed: int = 0,
           cases: int = 0, seconds: float = 0.0, explanation: str | None = None,
           violations: list[dict] = (), failures: list[dict] = ()) -> dict:
    possible = config.points[exercise.id]
    if status == "passed":
        points = possible
    elif config.partial_credit and status in ("failing", "blocked", "not started") and cases:
        points = round(possible * cases_passed / cases, 2)
    else:
        points = 0.0
    return {"id": exercise.id, "title": exercise.title, "bonus": exercise.bonus, "status": status,
            "points": float(points), "possible": float(possible), "cases_passed": cases_passed,
            "cases": cases, "seconds": round(seconds, 2), "explanation": explanation,
            "violations": list(violations), "failures": list(failures)}


def _before_running(exercise: catalog.Exercise, learner: Path, config: Config,
                    static_check: bool) -> dict | None:
    """An entry when the exercise can be graded without running it (file missing, refused)."""
    from gpt2lab import integrity

    if not (learner / f"{exercise.module}.py").is_file():
        return _entry(exercise, config, "missing", explanation=f"{exercise.path} is not in the submission")
    if not static_check:
        return None
    found = integrity.scan(learner, exercise.module)
    if not found:
        return None
    return _entry(exercise, config, "integrity", violations=[v.as_dict() for v in found],
                  explanation="refused without running it: " + "; ".join(map(str, found)))


def _run_children(pending: list[catalog.Exercise], work: Path, entries: dict[str, dict], *,
                  config: Config, seed: int, timeout: float, memory: int, device: str, jobs: int,
                  threads: int, progress) -> dict:
    meta: dict = {}
    running: list[_Child] = []
    queue = list(pending)
    last_memory_check = 0.0
    try:
        while queue or running:
            while queue and len(running) < jobs:
                running.append(_launch(queue.pop(0), work, seed=seed, memory=memory, device=device,
                                       threads=threads))
            time.sleep(0.05)
            now = time.monotonic()
            check_memory = now - last_memory_check > 0.25
            last_memory_check = now if check_memory else last_memory_check
            for child in list(running):
                _read_progress(child, memory)
                if child.process.poll() is None:
                    if child.ready is None and now - child.started > STARTUP_LIMIT:
                        _kill(child, "crashed")
                    elif child.ready is not None and now - child.ready > timeout:
                        _kill(child, "timeout")
                    elif check_memory and child.rss_limit and _rss_kb(child.process.pid) > child.rss_limit:
                        _kill(child, "memory")
                    continue
                _read_progress(child, memory)
                running.remove(child)
                entry, child_meta = _finish(child, config, timeout=timeout, memory=memory)
                meta = meta or child_meta
                entries[child.exercise.id] = entry
                if progress:
                    progress(entry)
    finally:  # Ctrl-C, or an error here: no grading process may outlive the grader
        for child in running:
            if child.process.poll() is None:
                _kill(child, "crashed")
    return meta


def _launch(exercise: catalog.Exercise, work: Path, *, seed: int, memory: int, device: str,
            threads: int) -> _Child:
    files = {name: work / f"{exercise.id}.{name}" for name in ("result", "progress", "log")}
    key = secrets.token_hex(32)
    spec = {"exercise": exercise.id, "work": str(work), "seed": seed, "memory": memory,
            "device": device, "threads": threads, **{k: str(v) for k, v in files.items()}}
    files["progress"].touch()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    with open(files["log"], "wb") as log:
        process = subprocess.Popen([sys.executable, "-I", "-c", _BOOT, str(ROOT)], cwd=work,
                                   stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
                                   env=env, start_new_session=True)
    process.stdin.write(f"{key}\n{json.dumps(spec)}\n".encode())
    process.stdin.close()
    return _Child(exercise, process, key, files, time.monotonic())


def _read_progress(child: _Child, memory: int) -> None:
    """Events the child appends to its progress file: ready (with its footprint), each test."""
    with open(child.files["progress"], "rb") as f:
        f.seek(child.progress_offset)
        data = f.read()
    complete = data[:data.rfind(b"\n") + 1]
    child.progress_offset += len(complete)
    for line in complete.decode(errors="replace").splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if event.get("event") == "ready" and child.ready is None:
            child.ready = time.monotonic()
            child.collected = int(event.get("collected", 0))
            child.rss_limit = int(event.get("rss_kb", 0)) + memory * 1024 if event.get("rss_kb") else None
        elif event.get("event") == "start":
            child.running = str(event.get("test", ""))


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _kill(child: _Child, why: str) -> None:
    child.killed = why
    try:
        os.killpg(child.process.pid, signal.SIGKILL)  # its whole session
    except (AttributeError, ProcessLookupError, PermissionError):  # Windows has no process groups
        child.process.kill()
    child.process.wait()


def _finish(child: _Child, config: Config, *, timeout: float, memory: int) -> tuple[dict, dict]:
    exercise = child.exercise
    seconds = time.monotonic() - (child.ready or child.started)
    test = _short(child.running)
    if child.killed == "timeout":
        return _entry(exercise, config, "timeout", cases=child.collected, seconds=seconds,
                      explanation=f"stopped after {timeout:g} s" + (f", in {test}" if test else "")
                      + ": look for a loop that never ends, or work far larger than the shapes "
                      "in the docstring"), {}
    if child.killed == "memory":
        return _entry(exercise, config, "memory", cases=child.collected, seconds=seconds,
                      explanation=f"used more than {memory} MiB" + (f", in {test}" if test else "")
                      + ": look for a tensor far larger than the shapes in the docstring"), {}
    payload, forged = _verified_result(child)
    if forged:
        return _entry(exercise, config, "integrity", cases=child.collected, seconds=seconds,
                      violations=[{"file": "exercises/", "line": 0, "message": forged}],
                      explanation=f"refused: {forged}"), {}
    if payload is None:
        code = child.process.returncode
        how = f"was killed by signal {-code}" if code and code < 0 else f"ended with exit code {code}"
        tail = _tail(child.files["log"])
        if child.killed == "crashed":
            how = f"did not start within {STARTUP_LIMIT:g} s"
        return _entry(exercise, config, "crashed", cases=child.collected, seconds=seconds,
                      explanation=f"the grading process {how} before writing its result"
                      + (f", in {test}" if test else "") + (f"; its last output:\n{tail}" if tail else "")), {}
    if payload.get("error"):
        return _entry(exercise, config, "crashed", seconds=seconds, explanation=payload["error"]), {}
    meta = {"device": payload["device"], "torch": payload["torch"]}
    verdicts = [v for v in payload["verdicts"] if v["status"] != "skipped"]  # skipped by the suite: the
    # machine lacks something (pretrained weights, a GPU); a skip raised by the learner's code is refused
    passed = sum(v["status"] == "passed" for v in verdicts)
    failures = [{"test": _case_name(v), "status": v["status"], "message": v.get("message", "")}
                for v in verdicts if v["status"] != "passed"]
    violations = payload["violations"]
    if violations:
        return _entry(exercise, config, "integrity", cases_passed=passed, cases=len(verdicts),
                      seconds=seconds, violations=violations, failures=failures,
                      explanation="refused: " + "; ".join(f"{v['file']}:{v['line']}: {v['message']}"
                                                          for v in violations)), meta
    status = payload["status"]
    if len(payload["verdicts"]) < child.collected:  # the session was cut short (pytest.exit, ...)
        return _entry(exercise, config, "crashed", cases_passed=passed, cases=child.collected,
                      seconds=seconds, failures=failures,
                      explanation=f"only {len(payload['verdicts'])} of the {child.collected} cases ran"), meta
    memory_hit = any("can't allocate memory" in v.get("message", "") or "MemoryError" in v.get("message", "")
                     for v in verdicts if v["status"] != "passed")
    if memory_hit:
        status = "memory"
    explanation = None
    if status == "not started":
        explanation = f"not started: {exercise.path} still raises NotImplementedError"
    elif status != "passed":
        first = payload.get("first_problem") or (failures[0] if failures else None)
        blocked = payload.get("blocked_by")
        explanation = (f"needs {', '.join(blocked)}, which do not pass; " if blocked else "") + (
            f"{first['test']}: {first['message']}" if first else "no case was collected")
        if memory_hit:
            explanation = f"went over the memory limit of {memory} MiB; " + explanation
    return _entry(exercise, config, status, cases_passed=passed, cases=len(verdicts), seconds=seconds,
                  explanation=explanation, failures=failures), meta


def _verified_result(child: _Child) -> tuple[dict | None, str | None]:
    """(the child's result, None), or (None, why it is refused), or (None, None) when there is none."""
    try:
        signed = json.loads(child.files["result"].read_text())
        body, mac = signed["payload"], signed["mac"]
    except (OSError, ValueError, KeyError, TypeError):
        return None, None
    expected = hmac.new(child.key.encode(), str(body).encode(), hashlib.sha256).hexdigest()
    if not isinstance(mac, str) or not hmac.compare_digest(expected, mac):
        return None, ("the grading process's result does not carry the grader's signature: it was "
                      "written by something else (the exercise's code?)")
    return json.loads(body), None


def _tail(path: Path, lines: int = 8) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


def _case_name(verdict: dict) -> str:
    return verdict.get("test", "") + (f"[{verdict['case']}]" if verdict.get("case") else "")


def _short(nodeid: str) -> str:
    return nodeid.rpartition("::")[2]


# ----------------------------------------------------------------------------------------------
# The child: runs one exercise's suite under the guard and the limits
# ----------------------------------------------------------------------------------------------


class _GradingPlugin:
    """pytest plugin of the grading process: progress events, the guard around every test phase."""

    def __init__(self, guard, progress: Path):
        self.guard = guard
        self.progress = open(progress, "a", buffering=1)
        self.seen = 0

    def emit(self, **event) -> None:
        self.progress.write(json.dumps(event) + "\n")

    def pytest_collection_finish(self, session) -> None:
        self.guard.take_snapshot()  # the suites are imported, the learner's code is not yet
        self.emit(event="ready", collected=len(session.items), rss_kb=_rss_kb(os.getpid()))

    def pytest_runtest_logstart(self, nodeid, location) -> None:
        self.emit(event="start", test=nodeid)

    def _guarded(self, item, phase: str):
        self.guard.arm()
        try:
            result = yield
        except BaseException as error:
            self._refuse_learner_skip(error)
            self._after(item, phase, raising=False)
            raise
        self._after(item, phase, raising=True)
        return result

    def _refuse_learner_skip(self, error: BaseException) -> None:
        """A skip, an xfail or an exit raised from the learner's code is not a skipped case."""
        import unittest

        from _pytest.outcomes import Exit, Skipped, XFailed

        if not isinstance(error, (Skipped, XFailed, Exit, unittest.SkipTest)):
            return
        frames = [tb.tb_frame for tb in _walk(error.__traceback__)]
        learner = [f for f in frames if f.f_code.co_filename.startswith(self.guard.learner_dir)]
        if learner:
            self.guard.record(learner[-1], f"raises {type(error).__name__}",
                              "skipping a test is not passing it")

    def _after(self, item, phase: str, *, raising: bool) -> None:
        from gpt2lab.integrity import IntegrityError
        from gpt2lab.verdict import fail

        tampered = self.guard.disarm()
        if tampered:
            more = " and more" if len(tampered) > 5 else ""
            self.guard.record(None, f"changed {', '.join(tampered[:5])}{more}", "the grader and the "
                              "reference use these too: your code must leave them as they are")
        if phase == "setup":
            self.guard.audit()  # the learner's modules are imported by the `kata` fixture
        new = self.guard.violations[self.seen:]
        self.seen = len(self.guard.violations)
        mutations = list(self.guard.mutations)
        if not raising:
            return
        if new:
            raise IntegrityError(str(new[0]))
        if mutations and phase == "call":
            fail(_short(item.nodeid), "your code changed, in place, a tensor the test gave it",
                 *sorted(set(mutations))[:3],
                 "GPT-2's layers never modify their inputs: write x = x + y rather than x += y, and "
                 "use in-place operations (add_, masked_fill_, ...) only on tensors your code created")

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_setup(self, item):
        return (yield from self._guarded(item, "setup"))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item):
        return (yield from self._guarded(item, "call"))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_teardown(self, item, nextitem):
        return (yield from self._guarded(item, "teardown"))


def _walk(tb):
    while tb is not None:
        yield tb
        tb = tb.tb_next


def _child_main() -> None:
    """One exercise, in a fresh interpreter started by `_launch` (spec and key on stdin)."""
    key = sys.stdin.readline().strip()  # first, before anything of the learner's exists
    spec = json.loads(sys.stdin.readline())
    work = Path(spec["work"])

    def finish(payload: dict) -> None:
        body = json.dumps(payload)
        mac = hmac.new(key.encode(), body.encode(), hashlib.sha256).hexdigest()
        Path(spec["result"]).write_text(json.dumps({"payload": body, "mac": mac}))
        sys.stdout.flush()
        os._exit(0)  # no atexit handlers, no finalisers: nothing of the learner's runs after this

    try:
        import torch

        from gpt2lab import catalog as cat
        from gpt2lab import check, integrity

        exercise = cat.BY_ID[spec["exercise"]]
        torch.set_num_threads(spec["threads"])
        _warm_up_reference()  # so that the fingerprint taken before the learner's code is final
        hf = [d for d in map(integrity.package_dir, integrity.HF_PACKAGES) if d is not None]
        references = [ROOT / "gpt2lab" / f"{name.rpartition('.')[2]}.py" for name in integrity.REFERENCE_MODULES]
        boundary = [ROOT / "tests", *references]
        guard = integrity.Guard(work / "exercises", hf, [ROOT / "solutions"], boundary)
        guard.install()
        device = spec["device"]
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        _limit_memory(spec["memory"], device)
        plugin = _GradingPlugin(guard, Path(spec["progress"]))
        [result] = check.run([exercise], impl="exercises", impl_root=work, suites=ROOT / "tests" / "katas",
                             device=device, seed=spec["seed"], plugins=[plugin])
        learner = sys.modules.get("exercises")
        if learner is not None and not str(getattr(learner, "__file__", "")).startswith(str(work)):
            raise RuntimeError(f"the grader imported {learner.__file__}, not the submission's copy")
        if guard.errors:
            raise RuntimeError("the integrity guard failed: " + "; ".join(sorted(set(guard.errors))[:3]))
        first = result.first_problem()
        finish({"status": result.status, "verdicts": result.verdicts, "device": device,
                "torch": torch.__version__, "blocked_by": list(result.blocked_by),
                "first_problem": {"test": _case_name(first), "status": first["status"],
                                  "message": first.get("message", "")} if first else None,
                "violations": [v.as_dict() for v in guard.violations]})
    except KeyboardInterrupt:  # pytest's answer to pytest.exit() or to a KeyboardInterrupt in a test
        finish({"error": "the test session was stopped from inside (pytest.exit or KeyboardInterrupt)"})
    except BaseException as error:  # noqa: BLE001 — whatever happened, the parent gets a signed answer
        finish({"error": f"the grader could not run this exercise: {type(error).__name__}: {error}"})


def _warm_up_reference() -> None:
    """Import Hugging Face's GPT-2 and use it once (build, run, save, load a tiny model).

    transformers changes some global state the first time it is used (it adds a finder to
    sys.meta_path, a method to nn.Module, wraps torch.manual_seed); done here, before the guard's
    fingerprint, those changes are the baseline rather than false alarms, and every reference the
    suites build later comes from modules fingerprinted before the learner's code was imported.
    """
    import torch

    try:
        from transformers import GPT2Config, GPT2LMHeadModel
    except ImportError:  # a grader without transformers grades the exercises that do not need it
        return
    config = GPT2Config(n_layer=1, n_embd=8, n_head=2, vocab_size=16, n_positions=8)
    with tempfile.TemporaryDirectory() as directory, torch.no_grad():
        GPT2LMHeadModel(config).eval()(torch.zeros(1, 2, dtype=torch.long)).logits.sum()
        GPT2LMHeadModel(config).save_pretrained(directory)
        GPT2LMHeadModel.from_pretrained(directory)


def _limit_memory(memory_mb: int, device: str) -> None:
    """RLIMIT_AS = what this process has mapped now + memory_mb; on CUDA, cap the GPU share instead
    (CUDA maps far more address space than it uses; the parent then watches the resident size).
    Linux only: elsewhere the time limit is the one that applies."""
    if device.startswith("cuda"):
        import torch

        total = torch.cuda.get_device_properties(0).total_memory
        torch.cuda.set_per_process_memory_fraction(min(1.0, memory_mb * 2**20 / total))
        return
    try:
        import resource
    except ImportError:  # Windows: the parent's resident-size watch is the only limit
        return
    try:
        with open("/proc/self/status") as f:
            mapped = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
    except (OSError, StopIteration):
        return
    limit = mapped + memory_mb * 2**20
    try:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ValueError, OSError):
        pass


# ----------------------------------------------------------------------------------------------
# The one-screen summary
# ----------------------------------------------------------------------------------------------

MARKS = {"passed": "ok", "failing": "XX", "not started": "..", "blocked": "--", "no tests": "??",
         "integrity": "!!", "timeout": "TT", "memory": "MM", "crashed": "**", "missing": "--"}


def summary(grades: dict, *, width: int = 100) -> str:
    lines = [f"GPT-2 kata — grades of {grades['submission']}",
             f"kata seed {grades['kata_seed']}, {grades['device']}, torch {grades['torch']}, "
             f"limits {grades['limits']['timeout_s']:g} s / {grades['limits']['memory_mb']} MiB per exercise", ""]
    for e in grades["exercises"]:
        score = f"{_num(e['points'])}/{_num(e['possible'])}"
        cases = f"{e['cases_passed']}/{e['cases']} cases" if e["cases"] else ""
        head = f"  {MARKS[e['status']]} {e['id']}  {e['title'][:44]:<44} {score:>7}  {e['status']:<11} {cases}"
        lines.append(head.rstrip() + (" (bonus)" if e["bonus"] else ""))
        if e["explanation"]:
            first = e["explanation"].splitlines()[0]
            lines.append("       " + (first if len(first) <= width - 7 else first[:width - 10] + "..."))
    total = grades["total"]
    bonus = sum(e["points"] for e in grades["exercises"] if e["bonus"])
    lines += ["", f"  total {_num(total['points'] - bonus)}/{_num(total['possible'])} points"
              + (f" + {_num(bonus)} bonus" if bonus else "")
              + f", {total['exercises_passed']}/{total['exercises']} exercises passed"]
    return "\n".join(lines)


def _num(x: float) -> str:
    return f"{x:g}"


def _integral(x: float) -> int | float:
    return int(x) if float(x).is_integer() else x


# ----------------------------------------------------------------------------------------------
# GitHub Classroom
# ----------------------------------------------------------------------------------------------


def classroom_workflow(config: Config | None = None) -> str:
    """The text of .github/workflows/classroom.yml (see classroom_workflow_data)."""
    header = ("# GitHub Classroom autograding: one graded test per exercise of gpt2lab/catalog.py, points\n"
              "# from grading.toml. Generated by `nox -s classroom`; edit those files, not this one.\n"
              "# The suites run from a pristine grader, never from the submission: see README.md,\n"
              "# \"For teachers\".\n")
    return header + to_yaml(classroom_workflow_data(config))


def classroom_workflow_data(config: Config | None = None) -> dict:
    """The Classroom workflow: one graded test per exercise of the catalogue, then the reporter.

    The grader is a pristine copy, never the files of the submission: the repository named by the
    `GPT2LAB_GRADER_REPO` variable (with the `GPT2LAB_GRADER_TOKEN` secret when it is private),
    else the submission's first commit, the starter code as it was handed out. A first job skips
    the teacher's own repository (it has solutions/).
    """
    config = config or Config.load()
    ids = [e.id for e in catalog.EXERCISES]
    steps: list[dict] = [
        {"name": "Check out the submission",
         "uses": "actions/checkout@v4", "with": {"path": "submission", "fetch-depth": 0}},
        {"name": "Check out the grader (the repository in vars.GPT2LAB_GRADER_REPO)",
         "if": "vars.GPT2LAB_GRADER_REPO != ''",
         "uses": "actions/checkout@v4",
         "with": {"repository": "${{ vars.GPT2LAB_GRADER_REPO }}", "ref": "${{ vars.GPT2LAB_GRADER_REF }}",
                  "token": "${{ secrets.GPT2LAB_GRADER_TOKEN || github.token }}", "path": "grader"}},
        {"name": "Or use the starter code as handed out (the submission's first commit) as the grader",
         "if": "vars.GPT2LAB_GRADER_REPO == ''",
         "run": 'git -C submission worktree add --detach ../grader '
                '"$(git -C submission rev-list --max-parents=0 HEAD | tail -n 1)"'},
        {"uses": "actions/setup-python@v5", "with": {"python-version": "3.12"}},
        {"name": "Install the grader (CPU torch)",
         "run": "python -m pip install --quiet torch --index-url https://download.pytorch.org/whl/cpu\n"
                "python -m pip install --quiet -e ./grader"},
    ]
    for exercise in catalog.EXERCISES:
        steps.append({
            "name": f"{exercise.id}: {exercise.title}",
            "id": exercise.id,
            "uses": "classroom-resources/autograding-command-grader@v1",
            "with": {"test-name": f"{exercise.id} {exercise.title}",
                     "command": f"cd grader && python -m gpt2lab grade {exercise.id} --submission ../submission "
                                f"--device cpu --out ../grades-{exercise.id}.json",
                     "timeout": max(5, int(config.timeout // 60) + 5),
                     "max-score": _integral(config.points[exercise.id])},
        })
    steps.append({
        "name": "Report the points to GitHub Classroom",
        "uses": "classroom-resources/autograding-grading-reporter@v1",
        "env": {f"{i.upper()}_RESULTS": f"${{{{ steps.{i}.outputs.result }}}}" for i in ids},
        "with": {"runners": ",".join(ids)},
    })
    workflow = {
        "name": "Autograding",
        "on": {"push": None, "workflow_dispatch": None, "repository_dispatch": None},
        "permissions": {"checks": "write", "actions": "read", "contents": "read"},
        "jobs": {
            "submission": {
                "name": "Is this a submission?",
                "runs-on": "ubuntu-latest",
                "if": "github.actor != 'github-classroom[bot]'",
                "outputs": {"grade": "${{ steps.kind.outputs.grade }}"},
                "steps": [
                    {"uses": "actions/checkout@v4", "with": {"sparse-checkout": "solutions"}},
                    {"id": "kind", "name": "Grade only students' repositories (the teacher's has solutions/)",
                     "run": 'if [ -d solutions ]; then\n'
                            '  echo "::notice::solutions/ is here: this is the teacher\'s repository, nothing to grade"\n'
                            '  echo "grade=no" >> "$GITHUB_OUTPUT"\n'
                            'else\n'
                            '  echo "grade=yes" >> "$GITHUB_OUTPUT"\n'
                            'fi\n'},
                ],
            },
            "autograding": {
                "name": "Grade every exercise",
                "needs": "submission",
                "if": "needs.submission.outputs.grade == 'yes'",
                "runs-on": "ubuntu-latest",
                "timeout-minutes": 30 + len(ids) * max(5, int(config.timeout // 60) + 5),
                "steps": steps,
            },
        },
    }
    return workflow


def to_yaml(value: object, indent: int = 0) -> str:
    """Block-style YAML for dicts, lists, strings, numbers, booleans and None (no dependency)."""
    pad = " " * indent
    if isinstance(value, dict):
        lines = []
        for key, item in value.items():
            if isinstance(item, str) and "\n" in item.rstrip("\n") and not item.endswith("\n\n") \
                    and item == item.strip(" ") and "\t" not in item:  # a literal block: shell stays readable
                body = "\n".join(f"{pad}  {line}" if line else "" for line in item.splitlines())
                lines.append(f"{pad}{_scalar(key)}: {'|' if item.endswith(chr(10)) else '|-'}\n{body}")
            elif isinstance(item, (dict, list)) and item:
                lines.append(f"{pad}{_scalar(key)}:\n{to_yaml(item, indent + 2)}")
            else:
                lines.append(f"{pad}{_scalar(key)}:{'' if item is None else ' ' + _scalar(item)}")
        return "\n".join(lines) + ("\n" if indent == 0 else "")
    if isinstance(value, list):
        lines = []
        for item in value:
            text = to_yaml(item, indent + 2) if isinstance(item, (dict, list)) else pad + "  " + _scalar(item)
            lines.append(f"{pad}- {text.lstrip()}")
        return "\n".join(lines)
    return pad + _scalar(value)


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    text = str(value)
    if "\n" in text:  # JSON's escapes are YAML's: a double-quoted scalar
        return json.dumps(text)
    plain_ok = (text and text.strip() == text and not text[0] in "!&*?|>'\"%@`#,[]{}-:"
                and ": " not in text and " #" not in text and text.lower() not in
                ("true", "false", "yes", "no", "on", "off", "null", "~") and not _looks_numeric(text))
    return text if plain_ok else json.dumps(text)


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False
