"""Every classic mistake must fail its exercise, with the right diagnosis when one is named."""

import pytest

from gpt2lab.check import PASSED
from tests.project.mutants import all_mutants

ALL = all_mutants()


@pytest.mark.parametrize("mutant", ALL, ids=[m.id for m in ALL])
def test_mistake_is_caught(grade, mutant):
    result = grade([mutant.exercise], edits={mutant.module: list(mutant.edits)})[mutant.exercise]
    assert result.status != PASSED, f"{mutant.name}: the suite of {mutant.exercise} lets it pass"
    if mutant.diagnosis:
        found = {v.get("diagnosis") for v in result.verdicts}
        assert mutant.diagnosis in found, f"{mutant.name}: diagnoses given were {found - {None}}"
