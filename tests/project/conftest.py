"""Helpers for the repository's own tests: build variant packages of the solutions and grade them,
and reach the stubs as the kata ships them.

The stubs. A learner writes their code in exercises/ of this very repository, so the repository's
tests never read the working tree's exercises/: they read it as committed in git (`git archive`),
extracted once per test process (`stubs_root`): at HEAD, or, when a learner committed their work
(an exercise file without any `raise NotImplementedError` left), at the newest earlier commit of
exercises/ where every file still has one. A commit of half-done files cannot be told from a stub
that way: set GPT2LAB_STUBS to the revision that holds the stubs (`GPT2LAB_STUBS=origin/main nox
-s tests`). Without git (a copy downloaded as an archive) the stubs cannot be told apart from a
learner's work at all: the tests that need them are skipped, with that reason, and every other
test runs.
"""

from __future__ import annotations

import atexit
import io
import itertools
import os
import shutil
import subprocess
import tarfile
import tempfile
import uuid
from functools import cache
from pathlib import Path

import pytest

from gpt2lab import catalog, check

# The repository's tests read English verdicts, whatever the developer's locale; test_spanish.py and
# test_i18n.py ask for Spanish where they mean to.
os.environ["GPT2LAB_LANG"] = "en"

ROOT = check.ROOT
_counter = itertools.count()
GIT = ["git", "-c", "user.name=ci", "-c", "user.email=ci@localhost", "-c", "init.defaultBranch=main",
       "-c", "commit.gpgsign=false", "-c", "core.hooksPath=/dev/null"]


def _git(root: Path, *args: str) -> bytes:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, check=True).stdout


def _unpack(archive: bytes, target: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(target, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))


def _stubs_in(archive: bytes) -> bool:
    """Every exercise file of this `git archive` of exercises/ still has a `raise NotImplementedError`."""
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    modules = [f"exercises/{e.module}.py" for e in catalog.EXERCISES]
    return all(b"raise NotImplementedError" in files.get(name, b"") for name in modules)


def extract_stubs(target: Path, root: Path = ROOT) -> Path | None:
    """Write the stubs' exercises/ (see the docstring above) into target/exercises and return
    target; None when there is no git, no repository, or no commit with the stubs."""
    chosen = os.environ.get("GPT2LAB_STUBS")
    try:
        candidates = [chosen] if chosen else ["HEAD", *_git(root, "rev-list", "--max-count=50", "HEAD",
                                                                "--", "exercises").decode().split()]
        for revision in candidates:
            archive = _git(root, "archive", "--format=tar", revision, "exercises")
            if chosen or _stubs_in(archive):
                _unpack(archive, target)
                return target if (target / "exercises" / "__init__.py").is_file() else None
    except (OSError, subprocess.CalledProcessError):
        return None
    return None


@cache
def _stubs_root() -> Path | None:
    folder = Path(tempfile.mkdtemp(prefix="gpt2lab-stubs-"))
    atexit.register(shutil.rmtree, folder, True)
    return extract_stubs(folder)


def stubs_root() -> Path:
    """A directory holding only exercises/, the stubs as the kata ships them (see the docstring above)."""
    root = _stubs_root()
    if root is None:
        pytest.skip("no git history here with the stubs (or no revision GPT2LAB_STUBS names): they cannot "
                    "be told apart from your own work in exercises/")
    return root


def repository_files(root: Path = ROOT) -> list[str]:
    """What git knows of `root`: tracked and new files, .gitignore respected."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=root,
                            capture_output=True, text=True, check=True).stdout.split("\0")
    return [name for name in listed if name and (root / name).is_file()]


def copy_repository(target: Path, *, commit: bool = True) -> Path:
    """A git repository holding this working tree as it is now (tracked and new, not ignored, files),
    except exercises/, which holds the stubs as shipped: the teacher's repository before any learner
    touched it. With commit, everything is committed once; else the files are only untracked."""
    stubs = stubs_root()
    target.mkdir(parents=True)
    for name in repository_files():
        if not name.startswith("exercises/"):
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target / name)
    shutil.copytree(stubs / "exercises", target / "exercises")
    for command in (["init", "-q"], *([["add", "-A"], ["commit", "-q", "-m", "snapshot"]] if commit else [])):
        subprocess.run([*GIT, *command], cwd=target, check=True, capture_output=True)
    return target


def make_package(tmp_path: Path, source: Path, edits: dict[str, list[tuple[str, str]]] | None = None) -> str:
    """Copy the package at `source` under a fresh name in tmp_path, apply text edits, return its name.

    Each edit (old, new) must match the file exactly once, so a mutant can never silently
    become the unchanged solution when the solution is rewritten.
    """
    # unique in this process even when this module is imported twice (as a conftest and by a test
    # module): a package name already in sys.modules would silently import the older copy
    name = f"variant_{next(_counter)}_{uuid.uuid4().hex[:8]}_{source.name}"
    target = tmp_path / name
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
    for module, changes in (edits or {}).items():
        path = target / f"{module}.py"
        text = path.read_text()
        for old, new in changes:
            assert text.count(old) == 1, f"{module}.py: {old!r} found {text.count(old)} times"
            text = text.replace(old, new)
        path.write_text(text)
    return name


def make_submission(tmp_path: Path, source: Path = ROOT / "solutions",
                    edits: dict[str, list[tuple[str, str]]] | None = None) -> Path:
    """A repository-like directory whose exercises/ is a copy of `source` with `edits` applied
    (what `nox -s grade -- --submission DIR` reads); returns the directory."""
    package = make_package(tmp_path, source, edits)
    submission = tmp_path / f"{package}-repo"
    submission.mkdir()
    shutil.move(tmp_path / package, submission / "exercises")
    return submission


@pytest.fixture
def grade(tmp_path):
    """grade(ids, source_dir, edits) -> {exercise id: ExerciseResult}."""

    def run(ids, source: Path = ROOT / "solutions", edits=None, **options):
        package = make_package(tmp_path, source, edits)
        results = check.run([catalog.find(i) for i in ids], impl=package, impl_root=tmp_path, **options)
        return {r.exercise.id: r for r in results}

    return run
