"""The catalogue is complete: every message in the code has its Spanish, with the same placeholders."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from gpt2lab import i18n

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted([*(ROOT / "gpt2lab").rglob("*.py"), *(ROOT / "tests" / "katas").glob("*.py"), ROOT / "noxfile.py"])
MARKERS = {"_", "N_", "translate"}


def _name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def messages() -> dict[str, list[str]]:
    """msgid -> where it is used, for every `_("...")`, `N_("...")` and `translate("...")` in the code."""
    found: dict[str, list[str]] = {}
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and _name(node.func) in MARKERS and node.args:
                argument = node.args[0]
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                if isinstance(argument, ast.JoinedStr):
                    found.setdefault(f"<f-string at {where}>", []).append(where)
                elif isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                    found.setdefault(argument.value, []).append(where)
    return found


def test_no_message_is_an_f_string():
    """An f-string cannot be looked up: write `_("... {x} ...").format(x=x)` instead."""
    assert [m for m in messages() if m.startswith("<f-string")] == []


def test_every_message_has_its_spanish():
    spanish = i18n.catalogue("es")
    missing = {m: where for m, where in messages().items() if not m.startswith("<f-string") and m not in spanish}
    assert missing == {}, "add these to gpt2lab/locale/es/*.po:\n" + "\n".join(
        f"{where[0]}: {m!r}" for m, where in missing.items())


@pytest.mark.parametrize("path", sorted((i18n.LOCALE / "es").glob("*.po")), ids=lambda p: p.name)
def test_placeholders_are_the_same_in_both_languages(path):
    differ = {m: s for m, s in i18n.read_po(path).items() if i18n.placeholders(m) != i18n.placeholders(s)}
    assert differ == {}


def test_no_message_is_translated_twice_in_two_ways():
    seen: dict[str, tuple[str, str]] = {}
    clashes = []
    for path in sorted((i18n.LOCALE / "es").glob("*.po")):
        for msgid, msgstr in i18n.read_po(path).items():
            if msgid in seen and seen[msgid][1] != msgstr:
                clashes.append((msgid, seen[msgid][0], path.name))
            seen[msgid] = (path.name, msgstr)
    assert clashes == []


def test_the_catalogue_holds_no_message_the_code_no_longer_uses():
    used = messages()
    assert sorted(set(i18n.catalogue("es")) - set(used)) == []


def test_the_language_comes_from_lang_then_the_environment_then_english():
    assert i18n.language("es", {"LANG": "en_US.UTF-8"}) == "es"
    assert i18n.language(None, {"GPT2LAB_LANG": "es", "LANG": "en_US.UTF-8"}) == "es"
    assert i18n.language(None, {"LC_ALL": "es_AR.UTF-8"}) == "es"
    assert i18n.language(None, {"LC_MESSAGES": "es_MX", "LANG": "en_GB"}) == "es"
    assert i18n.language(None, {"LANG": "es_ES.UTF-8"}) == "es"
    assert i18n.language(None, {"LANG": "C.UTF-8"}) == "en"
    assert i18n.language(None, {}) == "en"


def test_a_catalogue_reads_multiline_entries_and_escapes(tmp_path):
    po = tmp_path / "x.po"
    po.write_text('# a comment\nmsgid ""\nmsgstr "Content-Type: text/plain; charset=UTF-8\\n"\n\n'
                  'msgid "two "\n"lines {n}"\nmsgstr "dos "\n"líneas {n}"\n\n'
                  'msgid "a \\"quote\\"\\n"\nmsgstr "una \\"cita\\"\\n"\n\nmsgid "not yet"\nmsgstr ""\n',
                  encoding="utf-8")
    assert i18n.read_po(po) == {"two lines {n}": "dos líneas {n}", 'a "quote"\n': 'una "cita"\n'}
