"""Helpers for the repository's own tests: build variant packages of the solutions and grade them."""

from __future__ import annotations

import itertools
import shutil
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
    name = f"variant_{next(_counter)}_{source.name}"
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


@pytest.fixture
def grade(tmp_path):
    """grade(ids, source_dir, edits) -> {exercise id: ExerciseResult}."""

    def run(ids, source: Path = ROOT / "solutions", edits=None, **options):
        package = make_package(tmp_path, source, edits)
        results = check.run([catalog.find(i) for i in ids], impl=package, impl_root=tmp_path, **options)
        return {r.exercise.id: r for r in results}

    return run
