"""The pytest side of the kata: options, fixtures and the verdict attached to every test report.

Loaded by tests/conftest.py. Options:
  --impl exercises|solutions   which package to grade (the learner's by default)
  --impl-root DIR              the directory that holds that package (default: pytest's rootdir)
  --device auto|cpu|cuda       where the checks run (auto: CUDA when available)
  --kata-seed N                base of the seeds every case derives its weights and inputs from

Each test report carries, in `user_properties`, a ("gpt2lab", {...}) entry: the exercise, the
case, and a status among passed / failed / not_started / error / skipped, with a message written
for the learner. The checker (gpt2lab.check) reads only that; it survives pytest-xdist.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from pathlib import Path

import pytest
import torch

from gpt2lab import catalog
from gpt2lab.i18n import _
from gpt2lab.verdict import KataFailure

PROPERTY = "gpt2lab"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gpt2lab", "GPT-2 kata")
    group.addoption("--impl", default="exercises",
                    help="package to grade: exercises (yours, default) or solutions (the reference)")
    group.addoption("--impl-root", default=None,
                    help="directory that contains the package (default: the repository root)")
    group.addoption("--device", default="auto", choices=("auto", "cpu", "cuda"),
                    help="run the checks on the CPU or on CUDA (auto: CUDA when available)")
    group.addoption("--kata-seed", type=int, default=0,
                    help="base seed of the generated cases (graders pick their own)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "kata(id): the exercise this test grades, e.g. kata('e04')")
    config.addinivalue_line("markers", "pretrained: graded in a worker that can import transformers "
                            "(e06's from_pretrained)")
    if config.getoption("--device") == "cuda" and not torch.cuda.is_available():
        raise pytest.UsageError(_(
            "--device cuda was asked for, but torch.cuda.is_available() is False "
            "(torch {version}). Use --device cpu, or run on a machine with a GPU "
            "(on Colab: Runtime > Change runtime type > T4 GPU).").format(version=torch.__version__))
    # fp32 everywhere: TF32 would make CUDA results differ from the CPU by ~1e-3.
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    workers = getattr(config, "workerinput", {}).get("workercount")
    if workers:  # pytest-xdist: share the cores between workers instead of oversubscribing them
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))
    root = Path(config.getoption("--impl-root") or config.rootpath).resolve()
    config.stash[_root_key] = root
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))


_root_key = pytest.StashKey[Path]()
JUDGE = pytest.StashKey[object]()  # grading: gpt2lab.teacher.judge.Judge


@pytest.fixture(scope="session")
def device(pytestconfig: pytest.Config) -> torch.device:
    choice = pytestconfig.getoption("--device")
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(choice)


@pytest.fixture(scope="session")
def seed(pytestconfig: pytest.Config) -> int:
    return pytestconfig.getoption("--kata-seed")


def exercise_of(item: pytest.Item) -> catalog.Exercise | None:
    marker = item.get_closest_marker("kata")
    return catalog.BY_ID[marker.args[0]] if marker else None


@pytest.fixture
def kata(request: pytest.FixtureRequest):
    """The module under test for this test's exercise, e.g. `exercises.e04_attention`."""
    exercise = exercise_of(request.node)
    assert exercise is not None, f"{request.node.nodeid} has no @pytest.mark.kata(...)"
    judge = request.config.stash.get(JUDGE, None)
    if judge is not None:  # grading: the learner's module lives in a sandboxed worker
        return judge.module(request.node, exercise)
    return import_exercise(request.config.getoption("--impl"), exercise)


def import_exercise(package: str, exercise: catalog.Exercise):
    return importlib.import_module(f"{package}.{exercise.module}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    exercise = exercise_of(item)
    if exercise is None or (report.when != "call" and report.passed):
        return report
    callspec = getattr(item, "callspec", None)
    verdict = {"exercise": exercise.id, "case": callspec.id if callspec else "",
               "test": item.originalname if isinstance(item, pytest.Function) else item.name,
               "phase": report.when}
    if report.passed:
        verdict["status"] = "passed"
    elif report.skipped:
        verdict["status"] = "skipped"
        longrepr = report.longrepr
        verdict["message"] = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    else:
        verdict.update(classify(call.excinfo, item.config.stash[_root_key],
                                item.config.getoption("--impl")))
    report.user_properties.append((PROPERTY, verdict))
    return report


def classify(excinfo: pytest.ExceptionInfo | None, root: Path, package: str) -> dict:
    """Turn an exception into a status and a message in the learner's terms."""
    if excinfo is None:
        return {"status": "error", "message": _("the test failed without an exception")}
    from gpt2lab.teacher import remote

    if isinstance(excinfo.value, remote.WorkerGone):
        return {"status": "error", "stopped": excinfo.value.reason, "message": str(excinfo.value)}
    if isinstance(excinfo.value, remote.LearnerError):
        return _classify_remote(excinfo.value)
    learner_dir = root / package
    verdict = _classify(excinfo, learner_dir)
    source = _learner_file(excinfo, learner_dir)
    if source is not None:  # which exercise's file raised it: e04's check can fail in e02's code
        verdict["in_exercise"] = source
    return verdict


def _classify(excinfo: pytest.ExceptionInfo, learner_dir: Path) -> dict:
    error = excinfo.value
    if isinstance(error, NotImplementedError):
        return {"status": "not_started", "message": str(error) or "NotImplementedError"}
    if isinstance(error, KataFailure):
        return {"status": "failed", "message": str(error), "diagnosis": error.diagnosis}
    if isinstance(error, SyntaxError) and error.filename and Path(error.filename).is_relative_to(learner_dir):
        rel = Path(error.filename).relative_to(learner_dir.parent)
        message = _("your file does not compile: {error}\n  {path}:{line}\n    {text}")
        return {"status": "error", "message": message.format(error=error.msg, path=rel, line=error.lineno,
                                                             text=(error.text or "").strip())}
    where = learner_frame(excinfo.tb, learner_dir)
    if isinstance(error, AssertionError) and where is None:
        return {"status": "failed", "message": str(error)}
    head = f"{type(error).__name__}: {error}"
    if where is None:
        return {"status": "error", "message": _("{error}\n  (raised outside your code: {path}:{line})").format(
            error=head, path=excinfo.traceback[-1].path.name, line=excinfo.traceback[-1].lineno + 1)}
    return {"status": "error", "message": _("your code raised {error}\n{where}").format(error=head, where=where)}


def _classify_remote(error) -> dict:
    """An exception raised in the worker (it arrives as data: type, message, frames)."""
    if isinstance(error, NotImplementedError):
        return {"status": "not_started", "message": str(error) or "NotImplementedError"}
    frames = [f for f in error.frames if _exercise_of_path(str(f[0])) is not None]
    if error.syntax and _exercise_of_path(error.syntax[0]):
        file, line, text, msg = error.syntax
        exercise = _exercise_of_path(file)
        return {"status": "error", "in_exercise": exercise.id,
                "message": _("your file does not compile: {error}\n  {path}:{line}\n    {text}").format(
                    error=msg, path=exercise.path, line=line, text=str(text).strip())}
    head = f"{error.remote_type}: {error}"
    if not frames:
        return {"status": "error", "message": _("{error}\n  (raised outside your code)").format(error=head)}
    file, line, name, text = frames[-1]
    exercise = _exercise_of_path(str(file))
    where = _("  {path}:{line} in {function}\n    {text}").format(path=exercise.path, line=line, function=name,
                                                                    text=text)
    return {"status": "error", "in_exercise": exercise.id,
            "message": _("your code raised {error}\n{where}").format(error=head, where=where)}


def _exercise_of_path(path: str) -> catalog.Exercise | None:
    """The exercise whose file this is, for a path in the worker's exercises/ folder."""
    folder, _slash, name = path.rpartition("/")
    if not folder.endswith("/exercises"):
        return None
    return next((e for e in catalog.EXERCISES if f"{e.module}.py" == name), None)


def _deepest_learner_frame(tb, learner_dir: Path) -> traceback.FrameSummary | None:
    found = None
    for frame in traceback.extract_tb(tb):
        if Path(frame.filename).is_relative_to(learner_dir):
            found = frame
    return found


def _learner_file(excinfo: pytest.ExceptionInfo, learner_dir: Path) -> str | None:
    """The id of the exercise whose file raised the exception, when it is one of the learner's."""
    error = excinfo.value
    if isinstance(error, SyntaxError) and error.filename:
        path = Path(error.filename)
    else:
        frame = _deepest_learner_frame(excinfo.tb, learner_dir)
        path = Path(frame.filename) if frame else None
    if path is None or not path.is_relative_to(learner_dir):
        return None
    return next((e.id for e in catalog.EXERCISES if e.module == path.stem), None)


def learner_frame(tb, learner_dir: Path) -> str | None:
    """The deepest frame of the traceback that is in the learner's files, formatted as a pointer."""
    found = _deepest_learner_frame(tb, learner_dir)
    if found is None:
        return None
    rel = Path(found.filename).relative_to(learner_dir.parent)
    return _("  {path}:{line} in {function}\n    {text}").format(path=rel, line=found.lineno, function=found.name,
                                                                  text=found.line)
