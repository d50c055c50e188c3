"""Under a Spanish locale, a learner who makes a classic mistake reads the whole verdict in
Spanish: the case, what differs, the mistake's name and its hint (every mutant that names one)."""

import re

import pytest

from gpt2lab import i18n
from tests.project.mutants import all_mutants
from tests.project.test_verdict import english_left

NAMED = [m for m in all_mutants() if m.diagnosis]
CATALOGUES = tuple(sorted(p.name for p in (i18n.LOCALE / "es").glob("*.po")))


@pytest.mark.parametrize("mutant", NAMED, ids=[m.id for m in NAMED])
def test_a_classic_mistake_is_explained_in_spanish(grade, mutant, monkeypatch):
    monkeypatch.setenv("GPT2LAB_LANG", "es")
    result = grade([mutant.exercise], edits={mutant.module: list(mutant.edits)})[mutant.exercise]
    first = result.first_problem()
    name = i18n.translate(mutant.first or mutant.diagnosis, "es")
    assert first.get("diagnosis") == name, (first.get("diagnosis"), name)
    message = first["message"]
    assert "{" not in message, message
    assert english_left(message, CATALOGUES) == [], message
    assert ENGLISH.findall(message) == [], message  # a sentence no catalogue knows: not wrapped in _()


ENGLISH = re.compile(r"\b(the|your|expected|should|must|which|instead|got|differs?)\b(?![.(_\[])")
