"""A class: who is in it (`roster`), and its gradebook (`gradebook.csv`, `gradebook.json`).

`nox -s grade -- --class PATH...` takes, for PATH, any of:

- a class directory (the only PATH, and without exercises/): one folder per student, as
  `gh classroom clone student-repos` lays them out (<assignment>-submissions/<repository>/); every
  folder in it that does not start with "." is a student, named after the folder (one without
  exercises/ is graded "missing"; one that holds a gradebook.json is an output folder, nobody);
- submissions: a folder that holds exercises/, or each of several folders (`--class ../class/*`);
- a CSV with a `student_repository_name` or `student_repository_url` column, as GitHub Classroom
  writes it (`gh classroom assignment-grades`, or "Download grades" on the assignment's page): each
  row's repository is the folder of that name next to the CSV or in a `*-submissions` folder next
  to it; the student is named by `roster_identifier`, else `github_username`, else the folder;
- any other file: a list of folders, one a line, relative to the file (blank lines and lines that
  start with # are skipped).

The gradebook has one row a student and one column an exercise, then the total (bonus points
included), with a header row and numbers written with a dot: the form LMS imports take.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from gpt2lab import catalog
from gpt2lab.teacher.grades import Config

SCHEMA_ID = "gpt2lab-gradebook/1"
CSV_NAME, JSON_NAME = "gradebook.csv", "gradebook.json"


@dataclass(frozen=True)
class Student:
    name: str  # the gradebook's row: the folder's name, or the roster identifier of a Classroom CSV
    folder: Path  # the submission: a repository whose exercises/ is graded
    key: str  # the folder's name: where its grades go, OUT/<key>/grades.json


def roster(paths: list[Path], *, skip: Path | None = None) -> list[Student]:
    """The students of `paths` (see the module's docstring), in the order given (a class directory's
    folders sorted by name); `skip` (the output directory) is never a student."""
    found: list[Student] = []
    for path in map(Path, paths):
        if path.is_dir():
            if (path / "exercises").is_dir() or len(paths) > 1:
                found.append(_student(path))
            else:
                found += [_student(p) for p in _folders(path, skip)]
        elif path.is_file() and path.suffix.lower() == ".csv":
            found += _from_csv(path)
        elif path.is_file():
            found += [_student(p) for p in _from_list(path)]
        else:
            raise FileNotFoundError(f"{path} does not exist")
    keys: dict[str, Path] = {}
    for student in found:
        other = keys.setdefault(student.key, student.folder)
        if other != student.folder:
            raise ValueError(f"two submissions share the folder name {student.key!r} ({other} and "
                             f"{student.folder}): grades are kept by folder name, rename one")
    return found


def _student(folder: Path, name: str | None = None) -> Student:
    folder = folder.resolve()
    return Student(name=name or folder.name, folder=folder, key=folder.name)


def _folders(directory: Path, skip: Path | None) -> list[Path]:
    skip = skip.resolve() if skip else None
    return sorted(p for p in directory.iterdir() if p.is_dir() and not p.name.startswith(".")
                  and p.resolve() != skip and not (p / JSON_NAME).exists())  # a gradebook is nobody


def _from_list(path: Path) -> list[Path]:
    folders = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        folder = path.parent / line
        if not folder.is_dir():
            raise FileNotFoundError(f"{path}, line {number}: {folder} is not a folder")
        folders.append(folder)
    return folders


def _from_csv(path: Path) -> list[Student]:
    with path.open(newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    students = []
    for number, row in enumerate(rows, 2):  # line 1 is the header
        repository = (row.get("student_repository_name") or "").strip() or \
            (row.get("student_repository_url") or "").strip().rstrip("/").removesuffix(".git").rsplit("/", 1)[-1]
        if not repository:
            raise ValueError(f"{path}, line {number}: no student_repository_name or student_repository_url "
                             "(the columns of GitHub Classroom's grades CSV)")
        candidates = [path.parent / repository, *sorted(path.parent.glob(f"*-submissions/{repository}"))]
        folder = next((c for c in candidates if c.is_dir()), None)
        if folder is None:
            raise FileNotFoundError(f"{path}, line {number}: {repository} is not cloned next to the CSV "
                                    f"(looked for {candidates[0]} and {path.parent}/*-submissions/{repository}; "
                                    "`gh classroom clone student-repos` clones there)")
        name = (row.get("roster_identifier") or "").strip() or (row.get("github_username") or "").strip()
        students.append(_student(folder, name or None))
    return students


# ----------------------------------------------------------------------------------------------
# The gradebook
# ----------------------------------------------------------------------------------------------


def number(x: float) -> str:
    """A point count as LMS imports read it: a dot, no exponent, no trailing .0."""
    x = round(float(x), 2)
    return str(int(x)) if x.is_integer() else f"{x:.2f}".rstrip("0")


def document(rows: list[dict], exercises: list[catalog.Exercise], config: Config, *, seed: int,
             grader: str, graded_at: str) -> dict:
    """gradebook.json: the class's seed, the exercises and their points, one row a student.

    Each row: student, folder, grades (its grades.json, relative to the gradebook), how it was
    graded this run ("graded", "unchanged": skipped as its files had not changed, "crashed": the
    grader failed on it), points and status per exercise, total, exercises passed, seconds."""
    return {
        "schema": SCHEMA_ID,
        "graded_at": graded_at,
        "grader": grader,
        "kata_seed": seed,
        "exercises": [{"id": e.id, "title": e.title, "bonus": e.bonus, "possible": config.points[e.id]}
                      for e in exercises],
        "possible": round(sum(config.points[e.id] for e in exercises if not e.bonus), 2),
        "students": rows,
    }


def row(student: Student, grades: dict, *, graded: str, seconds: float, grades_path: str) -> dict:
    """A student's row of gradebook.json, from their grades.json."""
    return {"student": student.name, "folder": str(student.folder), "grades": grades_path, "graded": graded,
            "points": {e["id"]: e["points"] for e in grades["exercises"]},
            "statuses": {e["id"]: e["status"] for e in grades["exercises"]},
            "total": grades["total"]["points"], "exercises_passed": grades["total"]["exercises_passed"],
            "seconds": round(seconds, 1)}


def write(out: Path, book: dict) -> tuple[Path, Path]:
    """Write OUT/gradebook.json and OUT/gradebook.csv; return their paths."""
    ids = [e["id"] for e in book["exercises"]]
    csv_path, json_path = out / CSV_NAME, out / JSON_NAME
    with csv_path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["student", *ids, "total"])
        for r in book["students"]:
            writer.writerow([r["student"], *(number(r["points"].get(i, 0.0)) for i in ids), number(r["total"])])
    json_path.write_text(json.dumps(book, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return csv_path, json_path


def read_seed(out: Path) -> int | None:
    """The kata seed a previous run of this class recorded in OUT, if any."""
    try:
        seed = json.loads((out / JSON_NAME).read_text(encoding="utf-8")).get("kata_seed")
    except (OSError, ValueError, AttributeError):
        seed = None
    if isinstance(seed, int):
        return seed
    for stamp in sorted(out.glob("*/stamp.json")) if out.is_dir() else ():
        try:
            seed = json.loads(stamp.read_text(encoding="utf-8")).get("kata_seed")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(seed, int):
            return seed
    return None


def default_out(paths: list[Path]) -> Path:
    """Where the grades go when --out is not given: NAME-grades next to the one class directory or
    file given. Submissions listed one by one need --out (next to one of them would be in the class)."""
    if len(paths) != 1 or (Path(paths[0]).is_dir() and (Path(paths[0]) / "exercises").is_dir()):
        raise ValueError("--out DIR is needed when the submissions are listed one by one: the gradebook "
                         "and every grades.json go there")
    path = Path(paths[0]).resolve()
    return path.parent / f"{path.stem if path.is_file() else path.name}-grades"


def summary(book: dict) -> str:
    """The gradebook on one screen: a line a student, then the class's seed."""
    ids = [e["id"] for e in book["exercises"]]
    width = max([len("student"), *(len(r["student"]) for r in book["students"])])
    lines = [f"{'student':<{width}}  " + " ".join(f"{i:>4}" for i in ids) + f"  {'total':>6}", ""]
    for r in book["students"]:
        cells = " ".join(f"{number(r['points'].get(i, 0.0)):>4}" for i in ids)
        note = {"unchanged": "unchanged", "crashed": "CRASHED: the grader failed on it"}.get(r["graded"], "")
        lines.append(f"{r['student']:<{width}}  {cells}  {number(r['total']):>6}  {note}".rstrip())
    lines += ["", f"{len(book['students'])} submissions, out of {number(book['possible'])} points"
              f" (bonus exercises add to it), kata seed {book['kata_seed']}"]
    return "\n".join(lines)
