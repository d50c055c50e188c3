"""Helpers for the repository's own tests: build variant packages of the solutions and grade them."""

from __future__ import annotations

import itertools
import shutil
import uuid
from pathlib import Path

import pytest

from gpt2lab import catalog, check

ROOT = check.ROOT
_counter = itertools.count()


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
