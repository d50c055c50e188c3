"""Everything a learner reads exists in Spanish too: README.es.md mirrors README.md, and every
exercise's instructions have a Spanish paragraph (the hints are checked in test_hints.py)."""

import ast
import re

import pytest

from gpt2lab import catalog
from gpt2lab.check import ROOT
from tests.project.conftest import stubs_root

README = (ROOT / "README.md").read_text(encoding="utf-8")
# What the reader replaces in a command (`nox -s train -- FILE`) is a word of their language; the
# commands, options, paths and names around it are not translated.
PLACEHOLDERS = {"FILE": "ARCHIVO"}
PLACEHOLDER = re.compile(r"\b(" + "|".join(PLACEHOLDERS) + r")\b")
README_ES = (ROOT / "README.es.md").read_text(encoding="utf-8")


def headings(text: str) -> list[str]:
    return re.findall(r"^#+ ", text, flags=re.M)


def code(text: str) -> list[str]:
    """Everything in backticks and code blocks: commands, file names, identifiers (never translated)."""
    blocks = re.findall(r"```\w*\n(.*?)```", text, flags=re.S)
    inline = re.findall(r"`([^`\n]+)`", re.sub(r"```\w*\n.*?```", "", text, flags=re.S))
    return sorted(set(inline + [line.split("#")[0].strip() for b in blocks for line in b.splitlines()]) - {""})


def test_the_spanish_readme_has_the_same_sections():
    assert headings(README_ES) == headings(README)
    assert "(README.md)" in README_ES and "(README.es.md)" in README


def test_the_teacher_only_parts_are_marked_the_same_way():
    """The student build (gpt2lab/teacher/student.py) drops what these markers enclose, in both READMEs."""
    for marker in ("<!-- teacher -->", "<!-- teacher-only -->", "<!-- /teacher-only -->"):
        assert README_ES.count(marker) == README.count(marker), marker


def in_spanish(item: str) -> str:
    """A piece of code as README.es.md writes it: its placeholders translated, nothing else."""
    return PLACEHOLDER.sub(lambda m: PLACEHOLDERS[m.group(1)], item)


def test_the_spanish_readme_has_every_command_file_and_name():
    missing = [item for item in code(README) if in_spanish(item) not in README_ES]
    assert not missing, f"README.es.md lacks these, from README.md: {missing}"


def test_placeholders_are_translated_and_only_they():
    assert not [item for item in code(README_ES) if PLACEHOLDER.search(item)], "an English placeholder is left"
    assert in_spanish("nox -s train -- FILE") == "nox -s train -- ARCHIVO" in code(README_ES)
    assert in_spanish("FILES.md --file FILE_X") == "FILES.md --file FILE_X"  # only the word itself


def test_the_spanish_readme_lists_every_exercise_of_the_readme():
    ids = set(re.findall(r"^\| (e\d\d)", README, flags=re.M))
    assert ids and ids == set(re.findall(r"^\| (e\d\d)", README_ES, flags=re.M))


def test_the_spanish_readme_is_spanish():
    words = re.findall(r"\b(el|la|los|las|que|de|con|una|para)\b", README_ES)
    assert len(words) > 100


def test_the_spanish_is_consistent():
    """"solo", never "sólo" (the RAE's spelling since 2010), in every Spanish text of the tools."""
    from gpt2lab import hints

    texts = {"README.es.md": README_ES, **{p.name: p.read_text(encoding="utf-8") for p in [
        *(ROOT / "gpt2lab" / "locale" / "es").glob("*.po"), *hints.DATA.glob("*.json")]}}
    assert [name for name, text in texts.items() if re.search(r"\bs[óÓ]lo\b", text, re.I)] == []


def test_both_readmes_say_how_to_choose_the_language():
    for text in (README, README_ES):
        assert "--lang es" in text and "GPT2LAB_LANG" in text and "LC_MESSAGES" in text


@pytest.mark.parametrize("exercise", catalog.EXERCISES, ids=[e.id for e in catalog.EXERCISES])
def test_every_instruction_has_a_spanish_paragraph(exercise):
    tree = ast.parse((stubs_root() / exercise.path).read_text(encoding="utf-8"))  # as shipped
    documented = [("module", ast.get_docstring(tree))] + [
        (node.name, ast.get_docstring(node)) for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_")]
    for name, doc in documented:
        assert doc, f"{exercise.path}: {name} has no docstring"
        assert "Español" in doc, f"{exercise.path}: {name}'s docstring has no Spanish paragraph"
    for node in ast.walk(tree):  # methods the learner writes and that carry instructions
        if isinstance(node, ast.FunctionDef) and ast.get_docstring(node) and len(ast.get_docstring(node)) > 200:
            assert "Español" in ast.get_docstring(node), f"{exercise.path}: {node.name}"
    assert not re.search(r"\bs[óÓ]lo\b", (stubs_root() / exercise.path).read_text(encoding="utf-8")), \
        f'{exercise.path}: write "solo", not "sólo"'
