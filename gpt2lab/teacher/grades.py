"""grading.toml and grades.json: points per exercise, the document's schema, and its summary.

grades.json follows SCHEMA (a JSON Schema, checked by `validate`); it is written only by the grader
(gpt2lab.teacher.grade), after every worker has ended.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gpt2lab import catalog

ROOT = Path(__file__).resolve().parent.parent.parent  # the grader: this copy of the repository
CONFIG = ROOT / "grading.toml"
SCHEMA_ID = "gpt2lab-grades/1"

# What an exercise's status in grades.json can be: the checker's, or why the grader stopped it.
STATUSES = ("passed", "failing", "not started", "blocked", "no tests",  # from gpt2lab.check
            "integrity", "encoding", "timeout", "memory", "crashed", "missing")


@dataclass(frozen=True)
class Config:
    """grading.toml: points per exercise, partial credit, limits."""

    points: dict[str, float]  # every catalogue exercise -> points possible
    partial_credit: bool = False
    timeout: float = 300.0  # seconds per exercise, counted once its process is ready
    memory: int = 6144  # MiB an exercise may allocate beyond the grader's own footprint

    @classmethod
    def load(cls, path: Path = CONFIG) -> Config:
        data = _read_toml(path) if path.exists() else {}
        table = dict(data.get("points", {}))
        default = float(table.pop("default", 10))
        unknown = sorted(set(table) - set(catalog.BY_ID))
        if unknown:
            raise ValueError(f"{path.name}: [points] names {', '.join(unknown)}, which the catalogue "
                             f"does not have (exercises: {', '.join(catalog.BY_ID)})")
        points = {e.id: float(table.get(e.id, default)) for e in catalog.EXERCISES}
        scoring, limits = data.get("scoring", {}), data.get("limits", {})
        return cls(points=points, partial_credit=bool(scoring.get("partial_credit", False)),
                   timeout=float(limits.get("timeout", cls.timeout)),
                   memory=int(limits.get("memory", cls.memory)))


def _read_toml(path: Path) -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    with path.open("rb") as f:
        return tomllib.load(f)


# ----------------------------------------------------------------------------------------------
# grades.json: its schema, and a validator for the part of JSON Schema it uses
# ----------------------------------------------------------------------------------------------

_STR, _INT, _NUM, _BOOL = {"type": "string"}, {"type": "integer"}, {"type": "number"}, {"type": "boolean"}

SCHEMA: dict = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": SCHEMA_ID,
    "title": "grades.json, written by `nox -s grade`",
    "type": "object",
    "additionalProperties": False,
    "required": ["schema", "submission", "grader", "graded_at", "kata_seed", "device", "torch",
                 "sandbox", "limits", "partial_credit", "exercises", "total"],
    "properties": {
        "schema": {"const": SCHEMA_ID},
        "submission": _STR,  # the directory graded
        "grader": _STR,  # the repository whose suites graded it
        "graded_at": _STR,  # UTC, ISO 8601
        "kata_seed": _INT,  # base seed of every generated case
        "device": _STR,  # cpu / cuda
        "torch": _STR,
        "sandbox": _BOOL,  # false: graded with --no-sandbox, the submission's code ran as the grader's user
        "limits": {"type": "object", "additionalProperties": False, "required": ["timeout_s", "memory_mb"],
                   "properties": {"timeout_s": _NUM, "memory_mb": _INT}},
        "partial_credit": _BOOL,
        "exercises": {"type": "array", "items": {
            "type": "object",
            "additionalProperties": False,
            "required": ["id", "title", "bonus", "status", "points", "possible", "cases_passed",
                         "cases", "seconds", "explanation", "violations", "failures"],
            "properties": {
                "id": _STR,
                "title": _STR,
                "bonus": _BOOL,
                "status": {"enum": list(STATUSES)},
                "points": _NUM,
                "possible": _NUM,
                "cases_passed": _INT,
                "cases": _INT,
                "seconds": _NUM,
                "explanation": {"type": ["string", "null"]},  # null when every case passed
                "violations": {"type": "array", "items": {  # integrity findings
                    "type": "object", "additionalProperties": False, "required": ["file", "line", "message"],
                    "properties": {"file": _STR, "line": _INT, "message": _STR}}},
                "failures": {"type": "array", "items": {  # the cases that did not pass, explained
                    "type": "object", "additionalProperties": False, "required": ["test", "status", "message"],
                    "properties": {"test": _STR, "status": _STR, "message": _STR}}},
            },
        }},
        "total": {"type": "object", "additionalProperties": False,
                  "required": ["points", "possible", "exercises_passed", "exercises"],
                  "properties": {"points": _NUM,  # bonus exercises' points included
                                 "possible": _NUM,  # bonus exercises left out: they are extra credit
                                 "exercises_passed": _INT, "exercises": _INT}},
    },
}

_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


def validate(document: object, schema: dict = SCHEMA, path: str = "$") -> list[str]:
    """Errors of `document` against `schema` (type, const, enum, required, properties,
    additionalProperties, items: the keywords SCHEMA uses); empty when it is valid."""
    errors: list[str] = []
    types = schema.get("type")
    if types is not None:
        wanted = types if isinstance(types, list) else [types]
        if not any(_is(document, t) for t in wanted):
            return [f"{path}: expected {' or '.join(wanted)}, found {type(document).__name__}"]
    if "const" in schema and document != schema["const"]:
        errors.append(f"{path}: expected {schema['const']!r}, found {document!r}")
    if "enum" in schema and document not in schema["enum"]:
        errors.append(f"{path}: {document!r} is not one of {schema['enum']}")
    if isinstance(document, dict):
        properties = schema.get("properties", {})
        errors += [f"{path}: {key!r} is missing" for key in schema.get("required", []) if key not in document]
        if schema.get("additionalProperties") is False:
            errors += [f"{path}: unexpected {key!r}" for key in document if key not in properties]
        for key, sub in properties.items():
            if key in document:
                errors += validate(document[key], sub, f"{path}.{key}")
    if isinstance(document, list) and "items" in schema:
        for i, item in enumerate(document):
            errors += validate(item, schema["items"], f"{path}[{i}]")
    return errors


def _is(value: object, type_name: str) -> bool:
    if type_name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if type_name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, _TYPES[type_name])


def entry(exercise: catalog.Exercise, config: Config, status: str, *, cases_passed: int = 0,
           cases: int = 0, seconds: float = 0.0, explanation: str | None = None,
           violations: list[dict] = (), failures: list[dict] = ()) -> dict:
    possible = config.points[exercise.id]
    if status == "passed":
        points = possible
    elif config.partial_credit and status in ("failing", "blocked", "not started") and cases:
        points = round(possible * cases_passed / cases, 2)
    else:
        points = 0.0
    return {"id": exercise.id, "title": exercise.title, "bonus": exercise.bonus, "status": status,
            "points": float(points), "possible": float(possible), "cases_passed": cases_passed,
            "cases": cases, "seconds": round(seconds, 2), "explanation": explanation,
            "violations": list(violations), "failures": list(failures)}


MARKS = {"passed": "ok", "failing": "XX", "not started": "..", "blocked": "--", "no tests": "??", "encoding": "!!",
         "integrity": "!!", "timeout": "TT", "memory": "MM", "crashed": "**", "missing": "--"}


def summary(grades: dict, *, width: int = 100) -> str:
    lines = [f"GPT-2 kata — grades of {grades['submission']}",
             f"kata seed {grades['kata_seed']}, {grades['device']}, torch {grades['torch']}, "
             f"limits {grades['limits']['timeout_s']:g} s / {grades['limits']['memory_mb']} MiB per exercise"
             + ("" if grades["sandbox"] else ", NOT SANDBOXED (--no-sandbox)"), ""]
    for e in grades["exercises"]:
        score = f"{_num(e['points'])}/{_num(e['possible'])}"
        cases = f"{e['cases_passed']}/{e['cases']} cases" if e["cases"] else ""
        head = f"  {MARKS[e['status']]} {e['id']}  {e['title'][:44]:<44} {score:>7}  {e['status']:<11} {cases}"
        lines.append(head.rstrip() + (" (bonus)" if e["bonus"] else ""))
        if e["explanation"]:
            first = e["explanation"].splitlines()[0]
            lines.append("       " + (first if len(first) <= width - 7 else first[:width - 10] + "..."))
    total = grades["total"]
    bonus = sum(e["points"] for e in grades["exercises"] if e["bonus"])
    lines += ["", f"  total {_num(total['points'] - bonus)}/{_num(total['possible'])} points"
              + (f" + {_num(bonus)} bonus" if bonus else "")
              + f", {total['exercises_passed']}/{total['exercises']} exercises passed"]
    return "\n".join(lines)


def _num(x: float) -> str:
    return f"{x:g}"


def _integral(x: float) -> int | float:
    return int(x) if float(x).is_integer() else x


# ----------------------------------------------------------------------------------------------
# GitHub Classroom
# ----------------------------------------------------------------------------------------------


