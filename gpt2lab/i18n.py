"""Every word a learner reads, in the learner's language.

The English is written in the code, wrapped in `_()`, the way gettext does it:

    fail(_("a batch of {b} prompts").format(b=b), _("the logits differ"))

The Spanish lives in gettext catalogues, `gpt2lab/locale/es/*.po` (one file per area: the tools,
the verdicts, each exercise's suite), where each English `msgid` sits beside its Spanish `msgstr`.
They are read as text, so no compiled `.mo` files are needed. `{name}` placeholders, numbers,
shapes and code stay as they are; `tests/project/test_i18n.py` fails when a message has no Spanish
or when its placeholders differ between the two languages.

The language is `--lang es|en` when a command is given one (it sets GPT2LAB_LANG so that pytest,
the judges and every other child process follow), else GPT2LAB_LANG, else the locale (LC_ALL,
LC_MESSAGES, LANG: "es_ES.UTF-8" is Spanish), else English.
"""

from __future__ import annotations

import ast
import functools
import os
import string
from collections.abc import Mapping
from pathlib import Path

LANGUAGES = ("en", "es")
LOCALE = Path(__file__).resolve().parent / "locale"
VARIABLE = "GPT2LAB_LANG"  # what `--lang` sets for the processes a command starts


def language(explicit: str | None = None, environ: Mapping[str, str] = os.environ) -> str:
    """`--lang` when given, else GPT2LAB_LANG, else the first of LC_ALL, LC_MESSAGES, LANG that is set."""
    if explicit:
        return explicit if explicit in LANGUAGES else "en"
    for variable in (VARIABLE, "LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(variable, "")
        if value:
            return "es" if value.lower().startswith("es") else "en"
    return "en"


def set_language(lang: str | None) -> str:
    """Settle the language for this process and those it starts; returns it."""
    chosen = language(lang)
    os.environ[VARIABLE] = chosen
    return chosen


def read_po(path: Path) -> dict[str, str]:
    """msgid -> msgstr of one gettext catalogue; untranslated (empty) entries are left out."""
    entries: dict[str, str] = {}
    field, parts = None, {"msgid": [], "msgstr": []}

    def flush():
        msgid, msgstr = "".join(parts["msgid"]), "".join(parts["msgstr"])
        if msgid and msgstr:
            entries[msgid] = msgstr
        parts["msgid"], parts["msgstr"] = [], []

    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _space, rest = line.partition(" ")
        if keyword in parts:
            if keyword == "msgid":
                flush()
            field, line = keyword, rest.strip()
        if field is None or not (line.startswith('"') and line.endswith('"')):
            raise ValueError(f"{path}:{number}: not a gettext line: {raw!r}")
        parts[field].append(ast.literal_eval(line))
    flush()
    return entries


@functools.cache
def catalogue(lang: str) -> dict[str, str]:
    """Every translation of one language (English needs none: its messages are the msgids)."""
    entries: dict[str, str] = {}
    for path in sorted((LOCALE / lang).glob("*.po")):
        entries.update(read_po(path))
    return entries


def translate(message: str, lang: str | None = None) -> str:
    """`message` (English) in the learner's language; unchanged when it has no translation."""
    lang = lang or language()
    if lang == "en":
        return message
    return catalogue(lang).get(message, message)


_ = translate


def placeholders(message: str) -> set[str]:
    """The `{name}` fields of a message ("{b} prompts of {t} tokens" -> {"b", "t"})."""
    return {field for _text, field, _spec, _conv in string.Formatter().parse(message) if field is not None}


def N_(message: str) -> str:
    """Mark a message for the catalogue without translating it yet (module constants: translate on use)."""
    return message
