"""Every classic mistake must fail its exercise, with the right diagnosis when one is named, and
the first problem the learner reads must name it (a named mistake before an unnamed difference)."""

import pytest

from tests.project.mutants import all_mutants, problem_with

ALL = all_mutants()


@pytest.mark.parametrize("mutant", ALL, ids=[m.id for m in ALL])
def test_mistake_is_caught(grade, mutant):
    result = grade([mutant.exercise], edits={mutant.module: list(mutant.edits)})[mutant.exercise]
    problem = problem_with(mutant, result)
    assert problem is None, problem
