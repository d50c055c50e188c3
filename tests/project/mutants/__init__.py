"""Classic mistakes, one per entry, written as text edits of the reference solutions.

Every module here defines MUTANTS: a list of Mutant. tests/project/test_mutants.py applies each
to a copy of solutions/ and checks that the hidden suite fails that exercise, with the named
diagnosis when one is given, and that the first problem shown names it. Add a module per kata.
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
    # the name the first problem shown gives, when another mistake gives the same output there
    first: str | None = None
    # tests of the suite that must each fail it with a failed check (not an error, not a pass)
    caught_by: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return f"{self.exercise}-{self.name.replace(' ', '-')}"


def all_mutants() -> list[Mutant]:
    """Every module's MUTANTS, module by module."""
    return [m for info in pkgutil.iter_modules(__path__)
            for m in importlib.import_module(f"{__name__}.{info.name}").MUTANTS]


def problem_with(mutant: Mutant, result) -> str | None:
    """What is wrong with how the suite treated `mutant`, given its exercise's check.ExerciseResult:
    it passed, or one of the tests that must catch it did not fail it, or its mistake is not named, or the first
    problem the learner reads does not name it (a named mistake before an unnamed difference); None
    when all is well."""
    if result.status == "passed":
        return f"{mutant.name}: the suite of {mutant.exercise} lets it pass"
    missed = [test for test in mutant.caught_by
              if not any(v["test"] == test and v["status"] == "failed" for v in result.graded)]
    if missed:
        return f"{mutant.name}: {', '.join(missed)} does not catch it (a failed check, not an error)"
    if not mutant.diagnosis:
        return None
    found = {v.get("diagnosis") for v in result.verdicts}
    if mutant.diagnosis not in found:
        return f"{mutant.name}: diagnoses given were {found - {None}}"
    first = result.first_problem()
    if first.get("diagnosis") != (mutant.first or mutant.diagnosis):
        return (f"{mutant.name}: the first problem shown is {first['test']}[{first['case']}], "
                f"named {first.get('diagnosis')!r}: {first['message'][:300]}")
    return None
