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
    english = mutant.first or mutant.diagnosis
    name = i18n.translate(english, "es")
    if name != english or english in i18n.catalogue("es"):
        assert first.get("diagnosis") == name, (first.get("diagnosis"), name)
    else:  # a name with a value in it ("{token} encoded as text"): its Spanish is not a msgid
        assert first.get("diagnosis") not in (None, english), first.get("diagnosis")
    message = first["message"]
    assert not PLACEHOLDER.search(message), message  # every {field} filled in
    assert english_left(message, CATALOGUES) == [], message
    prose = QUOTED.sub("", message)  # the learner's and the case's texts are what they are
    assert ENGLISH.findall(prose) == [], message  # a sentence no catalogue knows: not wrapped in _()


PLACEHOLDER = re.compile(r"\{[a-z_]+(:[^}]*)?\}")
QUOTED = re.compile(r"'[^'\n]*'|\"[^\"\n]*\"|`[^`\n]*`")
ENGLISH = re.compile(r"\b(the|your|expected|should|must|which|instead|got|differs?)\b(?![.(_\[])")
