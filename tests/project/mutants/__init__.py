"""Classic mistakes, one per entry, written as text edits of the reference solutions.

Every module here defines MUTANTS: a list of Mutant. tests/project/test_mutants.py applies each
to a copy of solutions/ and checks that the hidden suite fails that exercise, with the named
diagnosis when one is given. Add a module per kata.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass


@dataclass(frozen=True)
class Mutant:
    exercise: str  # "e04"
    name: str  # what the learner got wrong
    module: str  # file in solutions/, without .py
    edits: tuple[tuple[str, str], ...]  # (old, new) text replacements, each matching once
    diagnosis: str | None = None  # the Mistake.name the suite should recognise, if any

    @property
    def id(self) -> str:
        return f"{self.exercise}-{self.name.replace(' ', '-')}"


def all_mutants() -> list[Mutant]:
    """Every module's MUTANTS, module by module."""
    return [m for info in pkgutil.iter_modules(__path__)
            for m in importlib.import_module(f"{__name__}.{info.name}").MUTANTS]
