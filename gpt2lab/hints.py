"""Hints in steps: `nox -s hint -- e04` shows the next hint of an exercise each time it is called.

Hints are data, one JSON file per exercise in gpt2lab/data/hints/ ({"en": [...], "es": [...]},
the same number of steps in both languages, the last one close to pseudo-code and never the
solution's code). How many hints a learner has seen is kept per exercise in
`.gpt2lab/hints.json` at the repository root (ignored by git).
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from gpt2lab import catalog
from gpt2lab.i18n import N_, _, language

DATA = Path(__file__).resolve().parent / "data" / "hints"
LANGUAGES = ("en", "es")  # the languages of the hints' JSON files
STATE = Path(".gpt2lab") / "hints.json"  # relative to the repository root

# What the hint command says around the hints themselves (the hints are data, in DATA)
HINT = N_("hint {n} of {total}")


def load(exercise: catalog.Exercise) -> dict[str, list[str]]:
    """The hints of one exercise, by language; loud when the file is missing or malformed."""
    path = DATA / f"{exercise.id}.json"
    if not path.exists():
        raise FileNotFoundError(_("no hints for {id}: {path} is missing").format(id=exercise.id, path=path))
    data = json.loads(path.read_text(encoding="utf-8"))
    hints = {lang: data.get(lang) for lang in LANGUAGES}
    counts = {lang: len(steps) if isinstance(steps, list) else None for lang, steps in hints.items()}
    if None in counts.values() or len(set(counts.values())) != 1 or counts["en"] < 3:
        raise ValueError(f"{path}: expected lists 'en' and 'es' of the same length, 3 or more, "
                         f"got {counts}")
    return hints


class Progress:
    """How many hints of each exercise have been shown, kept in a small JSON file."""

    def __init__(self, path: Path):
        self.path = path
        try:
            seen = json.loads(path.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            seen = {}  # a damaged file only costs the learner their place in the hints
        self.seen = {k: v for k, v in seen.items() if isinstance(v, int)} if isinstance(seen, dict) else {}

    def __getitem__(self, exercise_id: str) -> int:
        return self.seen.get(exercise_id, 0)

    def __setitem__(self, exercise_id: str, count: int) -> None:
        self.seen[exercise_id] = count

    def reset(self, ids: list[str]) -> None:
        for exercise_id in ids:
            self.seen.pop(exercise_id, None)

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(self.seen, indent=1, sort_keys=True), encoding="utf-8")
        temporary.replace(self.path)  # never a half-written file


def _title(exercise: catalog.Exercise, lang: str) -> str:
    return exercise.title_es if lang == "es" else exercise.title


def _format(text: str, width: int = 96) -> str:
    return textwrap.fill(text, width=width, initial_indent="  ", subsequent_indent="  ")


def next_hint(exercise: catalog.Exercise, lang: str, progress: Progress, root: Path) -> str:
    """The next hint not yet seen (the last one again once all are seen); advances the progress."""
    steps = load(exercise)[lang]
    n = min(progress[exercise.id] + 1, len(steps))
    progress[exercise.id] = n
    counted = _(HINT, lang).format(n=n, total=len(steps))
    lines = [f"{exercise.id} — {_title(exercise, lang)} — {counted}", "", _format(steps[n - 1]), ""]
    if n < len(steps):
        lines.append(_("Next hint: nox -s hint -- {id}", lang).format(id=exercise.id) + _flag(lang))
    else:
        lines.append(_("That was the last hint. `--all` shows them all again, `--reset` starts over.", lang))
        if (root / "solutions" / f"{exercise.module}.py").exists():  # not in the students' repository
            lines.append(_("solutions/{module}.py holds a reference, for after you have tried.", lang)
                         .format(module=exercise.module))
    lines.append(_("Check your code: nox -s check -- {id}", lang).format(id=exercise.id) + _flag(lang))
    return "\n".join(lines)


def _flag(lang: str) -> str:
    """The commands a hint suggests keep its language: ` --lang es` after them, unless it is English."""
    return "" if lang == "en" else f" --lang {lang}"


def all_hints(exercise: catalog.Exercise, lang: str) -> str:
    steps = load(exercise)[lang]
    lines = [f"{exercise.id} — {_title(exercise, lang)}"]
    for n, step in enumerate(steps, 1):
        lines += ["", _(HINT, lang).format(n=n, total=len(steps)) + ":", _format(step)]
    return "\n".join(lines)


def main(exercise_name: str | None, *, lang: str | None, show_all: bool, reset: bool, root: Path) -> int:
    """What `python -m gpt2lab hint` does; returns the exit code."""
    lang = language(lang)
    progress = Progress(root / STATE)
    if exercise_name is None and not reset:
        print(_("Which exercise? For example: nox -s hint -- e04   (`nox -s check` names the next one)", lang))
        return 2
    try:
        exercise = catalog.find(exercise_name) if exercise_name else None
    except KeyError as error:
        print(f"gpt2lab: {error.args[0]}")
        return 2
    if reset:
        ids = [exercise.id] if exercise else [e.id for e in catalog.EXERCISES]
        progress.reset(ids)
        progress.save()
        print(_("Hints start again from the first for {ids}.", lang).format(ids=", ".join(ids)))
        return 0
    if show_all:
        print(all_hints(exercise, lang))
        return 0
    print(next_hint(exercise, lang, progress, root))
    progress.save()
    return 0
