"""The teacher's rules on built-ins: what an exercise may not let torch (or a library) do for it.

A learner who writes e01 as `F.layer_norm(...)` passes every case and learns nothing. grading.toml's
`[builtins.eNN]` tables list, per exercise, the names that would do the exercise for the learner,
with the lesson the exercise asks for. This module reads them (`load`, `from_config`) and reads one
exercise's own file with `ast` (`refused`, `scan`): each use of a listed name comes back as a plain
dict {file, line, name, rule, message} (the message in the learner's language), e.g. "e01 asks you to write LayerNorm from its
operations (...): F.layer_norm does it for you."

It is a teaching rule, not a defence: the usual spellings are recognised (`F.layer_norm`,
`torch.nn.functional.layer_norm`, `import torch.nn.functional as fun`, `from torch.nn.functional
import layer_norm as ln`, `nn.LayerNorm(...)`, `getattr(F, "layer_norm")`, `import_module("x")`),
deliberate disguises are not looked for. Comments, strings and annotations are not uses. Nothing
here imports torch: `nox -s check -- e01` stays as fast as before.

Used by `nox -s check` and `nox -s watch` through `mark` (a refused exercise gets a failing
verdict, first, with the explanation). The grader reads the same grading.toml it takes its points
from (`from_config(data)`, or `load(path)`) and calls `refused(exercise_id, source, rules)` on each
exercise's copied file, before running anything: a non-empty answer scores the exercise 0 points
with the status "refused", its explanation the first dict's "message" (all of them listed, as
the integrity findings are), whatever its suite would say. The suites themselves know nothing of
these rules (tests/project/alternative passes them with F.gelu and scaled_dot_product_attention).
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from gpt2lab import catalog
from gpt2lab.i18n import N_, _, language

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "grading.toml"
TABLE = "builtins"
TEST = "built-ins"  # the name of the verdict `mark` adds: "First problem in e01 ..., test built-ins"
_KEYS = {"lesson", "lesson_es", "refuse"}
_DOTTED = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")

# The fixed wording around a rule's lesson (the lessons themselves are the teacher's, in grading.toml)
REFUSED = N_("{id} asks you to {lesson}: {name} does it for you.")
WRITE_IT = N_("write it yourself")  # the lesson of a table that gives none


@dataclass(frozen=True)
class Rule:
    """One exercise's list: the names it refuses and the lesson they would skip."""

    exercise: str
    refuse: tuple[str, ...] = ()
    lesson: str = WRITE_IT
    lesson_es: str | None = None  # the teacher's Spanish of `lesson`; else the catalogue's, if it has one

    def lesson_in(self, lang: str) -> str:
        """The lesson in the learner's language: the teacher's own Spanish first."""
        return self.lesson_es if lang == "es" and self.lesson_es else _(self.lesson, lang)


Rules = dict[str, Rule]  # exercise id -> its rule; an exercise not in it refuses nothing


# ----------------------------------------------------------------------------------------------
# The rules, from grading.toml
# ----------------------------------------------------------------------------------------------


def load(path: Path = CONFIG) -> Rules:
    """The rules of a grading.toml; none when the file or its [builtins] table is absent.
    Raises ValueError, naming the file and the entry, when the table is malformed."""
    if not path.exists():
        return {}
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{path}: {error}") from None
    return from_config(data, source=str(path))


def from_config(data: Mapping, source: str = "grading.toml") -> Rules:
    """The rules of an already parsed grading.toml (the grader reads the file once)."""
    table = data.get(TABLE, {})
    if not isinstance(table, Mapping):
        raise ValueError(f"{source}: [{TABLE}] must be a table of exercises ([{TABLE}.e01], ...)")
    rules = {}
    for exercise, entry in table.items():
        where = f"{source}: [{TABLE}.{exercise}]"
        if exercise not in catalog.BY_ID:
            raise ValueError(f"{where}: no such exercise (the exercises are {', '.join(catalog.BY_ID)})")
        if not isinstance(entry, Mapping) or set(entry) - _KEYS:
            raise ValueError(f"{where}: expected the keys {', '.join(sorted(_KEYS))}")
        refuse = entry.get("refuse", [])
        bad = [n for n in refuse if not isinstance(n, str) or not _DOTTED.fullmatch(n)] \
            if isinstance(refuse, list) else [refuse]
        if bad:
            raise ValueError(f"{where}: refuse must be a list of dotted names such as "
                             f"\"torch.nn.functional.layer_norm\"; not {', '.join(map(repr, bad))}")
        texts = {k: entry[k] for k in ("lesson", "lesson_es") if k in entry}
        if any(not isinstance(t, str) or not t.strip() for t in texts.values()):
            raise ValueError(f"{where}: lesson and lesson_es must be non-empty strings")
        rules[exercise] = Rule(exercise, tuple(refuse), **{k: t.strip() for k, t in texts.items()})
    return rules


# ----------------------------------------------------------------------------------------------
# Reading one exercise's file
# ----------------------------------------------------------------------------------------------


def canonical(name: str) -> str:
    """torch's classes live in torch.nn.modules.<file>; the public name is torch.nn.<Class>."""
    parts = name.split(".")
    if parts[:3] == ["torch", "nn", "modules"] and len(parts) > 3:
        return "torch.nn." + parts[-1]
    return name


def _matches(name: str, refuse: Iterable[str]) -> str | None:
    """The entry of `refuse` that `name` is, or is inside of (a module, a class)."""
    name = canonical(name)
    for entry in refuse:
        entry_name = canonical(entry)
        if name == entry_name or name.startswith(entry_name + "."):
            return entry
    return None


def _bindings(tree: ast.AST) -> tuple[dict[str, str], list[str], set[str]]:
    """Names the file's imports bind to dotted names, modules imported with *, and every other
    name the file binds itself (a learner's own `layer_norm` is not torch's)."""
    names, star, local = {}, [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    names[alias.asname] = alias.name
                else:
                    top = alias.name.partition(".")[0]
                    names[top] = top
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if node.level or not node.module:  # from .e01_layer_norm import LayerNorm: the learner's
                    local.add(alias.asname or alias.name)
                elif alias.name == "*":
                    star.append(node.module)
                else:
                    names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            local.add(node.name)
        elif isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            local.add(node.id)
        elif isinstance(node, ast.arg):
            local.add(node.arg)
    return names, star, local


class _Finder(ast.NodeVisitor):
    """Every use of a refused name, the outermost expression only (`tiktoken.get_encoding` once)."""

    def __init__(self, source: str, refuse: tuple[str, ...], tree: ast.AST):
        self.source, self.refuse = source, refuse
        self.names, self.star, self.local = _bindings(tree)
        self.found: list[tuple[ast.AST, str, str, str]] = []  # node, as written, dotted name, entry

    def resolve(self, node: ast.AST) -> str | None:
        """The dotted name an expression stands for, when it is an imported one."""
        if isinstance(node, ast.Name):
            if node.id in self.names:
                return self.names[node.id]
            if self.star and node.id not in self.local:  # from torch.nn.functional import *
                return next((f"{m}.{node.id}" for m in self.star
                             if _matches(f"{m}.{node.id}", self.refuse)), None)
            return None
        if isinstance(node, ast.Attribute):
            base = self.resolve(node.value)
            return f"{base}.{node.attr}" if base else None
        if isinstance(node, ast.Call):
            text = _constant_string(node.args[1]) if len(node.args) >= 2 else None
            if _is_builtin(node.func, "getattr", self) and text:  # getattr(F, "layer_norm")
                base = self.resolve(node.args[0])
                return f"{base}.{text}" if base else None
            text = _constant_string(node.args[0]) if node.args else None
            if text and (_is_builtin(node.func, "__import__", self)
                         or self.resolve(node.func) == "importlib.import_module"):
                return text
        return None

    def _use(self, node: ast.AST) -> bool:
        dotted = self.resolve(node)
        entry = _matches(dotted, self.refuse) if dotted else None
        if entry:  # shown as written, but `getattr(F, "layer_norm")` as what it reaches
            shown = dotted if isinstance(node, ast.Call) else \
                " ".join((ast.get_source_segment(self.source, node) or dotted).split())
            self.found.append((node, shown, dotted, entry))
        return entry is not None

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            entry = _matches(alias.name, self.refuse)
            if entry:
                self.found.append((node, alias.name, alias.name, entry))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level or not node.module:
            return
        for alias in node.names:
            dotted = node.module if alias.name == "*" else f"{node.module}.{alias.name}"
            entry = _matches(dotted, self.refuse)
            if entry:
                self.found.append((node, dotted, dotted, entry))

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self._use(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if not (isinstance(node.ctx, ast.Load) and self._use(node)):
            self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        if not self._use(node):
            self.generic_visit(node)

    # annotations say what a value is, they compute nothing
    def visit_arg(self, node: ast.arg) -> None:
        pass

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        arguments = node.args
        for child in (*node.decorator_list, *arguments.defaults,
                      *(d for d in arguments.kw_defaults if d is not None), *node.body):
            self.visit(child)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)


def _constant_string(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _is_builtin(node: ast.AST, name: str, finder: _Finder) -> bool:
    return isinstance(node, ast.Name) and node.id == name and node.id not in finder.names \
        and node.id not in finder.local


def refused(exercise_id: str, source: str, rules: Rules, *, file: str | None = None,
            lang: str | None = None) -> list[dict]:
    """The uses of built-ins that exercise `exercise_id` refuses in `source` (its own file's text).

    One plain dict per use, in the order of the file: {"file", "line", "name" (as written),
    "rule" (the grading.toml entry it matched), "message" (in `lang`, default the learner's language:
    --lang, GPT2LAB_LANG, the locale)}.
    Empty when the exercise refuses nothing, and for a file that does not parse (the suites
    report the syntax error with its line).
    """
    exercise = catalog.BY_ID[exercise_id]
    lang = language(lang)
    rule = rules.get(exercise_id)
    if rule is None or not rule.refuse:
        return []
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    finder = _Finder(source, rule.refuse, tree)
    finder.visit(tree)
    found, seen = [], set()
    for node, shown, dotted, entry in sorted(finder.found, key=lambda f: (f[0].lineno, f[0].col_offset)):
        if (node.lineno, shown) in seen:
            continue
        seen.add((node.lineno, shown))
        if shown != dotted and ("." not in shown or shown.rpartition(".")[2] != dotted.rpartition(".")[2]):
            # a bare name (`ln`, `rearrange`): say what it is
            shown = f"{shown} ({dotted})"
        found.append({"file": file or exercise.path, "line": node.lineno, "name": shown, "rule": entry,
                      "message": _(REFUSED, lang).format(id=exercise_id, lesson=rule.lesson_in(lang), name=shown)})
    return found


def scan(package_dir: Path, exercise: catalog.Exercise, rules: Rules, *,
         relative_to: Path | None = None, lang: str | None = None) -> list[dict]:
    """`refused` for the exercise's file in a package folder (exercises/, or a submission's copy);
    `file` in the dicts is relative to `relative_to` (default: the folder's parent)."""
    path = package_dir / f"{exercise.module}.py"
    source = _read(path)
    if source is None:  # missing or not UTF-8: the suites and the integrity check say so
        return []
    return refused(exercise.id, source, rules,
                   file=path.relative_to(relative_to or package_dir.parent).as_posix(), lang=lang)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


# ----------------------------------------------------------------------------------------------
# `nox -s check` and `nox -s watch`
# ----------------------------------------------------------------------------------------------


def explanation(found: list[dict], exercise_id: str, lang: str | None = None,
                source_lines: Mapping[int, str] | None = None) -> str:
    """What the learner reads: each refusal once (`found` from `refused` in the same `lang`), where
    it is, and that the grade depends on it."""
    lines = []
    for message in dict.fromkeys(f["message"] for f in found):
        lines.append(message)
        for f in (f for f in found if f["message"] == message):
            code = (source_lines or {}).get(f["line"], "").strip()
            lines.append(f"  {f['file']}:{f['line']}" + (f"    {code}" if code else ""))
    lines.append(_("The grader refuses {id} too while its file uses it ([{table}.{id}] in grading.toml).", lang)
                 .format(id=exercise_id, table=TABLE))
    return "\n".join(lines)


def mark(results: list, root: Path, impl: str = "exercises", *, config: Path | None = None,
         lang: str | None = None) -> None:
    """Give each checked exercise whose own file uses a refused built-in a failing verdict, first,
    that explains it (`results`: gpt2lab.check.ExerciseResult). The rules come from `config`, by
    default the checked repository's grading.toml (else this one's). A malformed table is reported
    on stderr and the check goes on without rules: the learner's check must not stop on it."""
    lang = language(lang)
    path = config or next((p for p in (root / "grading.toml", CONFIG) if p.exists()), CONFIG)
    try:
        rules = load(path)
    except ValueError as error:
        print("gpt2lab: " + _("the rules on built-ins are not applied: {error}", lang).format(error=error),
              file=sys.stderr)
        return
    marked = False
    for result in results:
        exercise = result.exercise
        source = _read(root / impl / f"{exercise.module}.py")
        found = refused(exercise.id, source, rules, file=f"{impl}/{exercise.module}.py", lang=lang) if source else []
        if found:
            marked = True
            lines = dict(enumerate(source.splitlines(), start=1))
            result.verdicts.insert(0, {
                "exercise": exercise.id, "case": "", "test": TEST, "phase": "setup", "status": "failed",
                "message": explanation(found, exercise.id, lang, lines), "in_exercise": exercise.id,
                "refused": found})
    if marked:  # what builds on a refused exercise now waits for it
        from gpt2lab.check import link_blocked

        link_blocked(results)
