"""`nox -s grade`: grades.json and its schema, points from grading.toml, and the
GitHub Classroom workflow generated from the catalogue."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys

import pytest

from gpt2lab import catalog
from gpt2lab.teacher import classroom, grades
from tests.project.conftest import ROOT, make_submission


def test_grade_command_writes_grades_json_that_matches_its_schema(tmp_path):
    submission = make_submission(tmp_path)
    out = tmp_path / "grades.json"
    done = subprocess.run([sys.executable, "-m", "gpt2lab", "grade", "e03", "--submission", str(submission),
                           "--out", str(out), "--device", "cpu"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(out.read_text())
    assert grades.validate(result) == []
    [e03] = result["exercises"]
    assert (e03["id"], e03["status"], e03["points"], e03["explanation"]) == ("e03", "passed", 10.0, None)
    assert e03["cases_passed"] == e03["cases"] > 5
    assert isinstance(result["kata_seed"], int) and result["kata_seed"] > 0  # drawn when grading
    assert result["grader"] == str(ROOT) and result["submission"] == str(submission)
    assert "total 10/10 points" in done.stdout and "e03" in done.stdout


def test_grade_lang_es_explains_in_spanish_and_keeps_the_statuses_english(tmp_path):
    """What the student reads in grades.json follows `grade --lang`; what programs read does not."""
    submission = make_submission(tmp_path, edits={"e01_layer_norm": [
        ("import torch\n", "import torch\nimport torch.nn.functional as F\n"),
        ("return x_hat * self.weight + self.bias", "return F.layer_norm(x, x.shape[-1:], self.weight, self.bias)")]})
    (submission / "exercises" / "e02_mlp.py").unlink()
    out = tmp_path / "grades.json"
    # both exercises are decided before any code runs: no judge, no sandbox needed
    done = subprocess.run([sys.executable, "-m", "gpt2lab", "grade", "e01", "e02", "--submission", str(submission),
                           "--out", str(out), "--no-sandbox", "--lang", "es"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "GPT2LAB_LANG": "en"})
    assert done.returncode == 1, done.stdout + done.stderr
    e01, e02 = json.loads(out.read_text())["exercises"]
    assert (e01["status"], e02["status"]) == ("integrity", "missing")
    assert e01["explanation"].startswith("rechazado: e01 te pide escribir LayerNorm con sus operaciones")
    assert "F.layer_norm lo hace por ti" in e01["violations"][0]["message"]
    assert e02["explanation"] == "exercises/e02_mlp.py no está en la entrega"


def valid_document() -> dict:
    entry = grades.entry(catalog.BY_ID["e01"], grades.Config.load(), "passed", cases_passed=3, cases=3)
    return {"schema": grades.SCHEMA_ID, "submission": "/s", "grader": "/g", "graded_at": "2025-01-01T00:00:00+00:00",
            "kata_seed": 1, "device": "cpu", "torch": "2.3", "sandbox": True, "limits": {"timeout_s": 1.0, "memory_mb": 1},
            "partial_credit": False, "exercises": [entry],
            "total": {"points": 10.0, "possible": 10.0, "exercises_passed": 1, "exercises": 1}}


@pytest.mark.parametrize(("path", "value", "error"), [
    (("kata_seed",), "1", "expected integer"),
    (("exercises", 0, "status"), "great", "is not one of"),
    (("exercises", 0, "points"), True, "expected number"),
    (("total", "bonus"), 1, "unexpected 'bonus'"),
    (("schema",), "gpt2lab-grades/0", "expected 'gpt2lab-grades/1'"),
])
def test_the_schema_refuses_what_it_should(path, value, error):
    document = valid_document()
    assert grades.validate(document) == []
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    errors = grades.validate(document)
    assert any(error in e for e in errors), errors
    del document["exercises"][0]["failures"]
    assert any("'failures' is missing" in e for e in grades.validate(document))


def test_points_come_from_grading_toml(tmp_path):
    config = tmp_path / "grading.toml"
    config.write_text('[points]\ndefault = 4\ne06 = 20\n[scoring]\npartial_credit = true\n[limits]\ntimeout = 9\n')
    loaded = grades.Config.load(config)
    assert set(loaded.points) == set(catalog.BY_ID)  # a new kata in the catalogue is graded too
    assert loaded.points["e06"] == 20 and loaded.points["e01"] == 4 and loaded.timeout == 9
    failing = grades.entry(catalog.BY_ID["e06"], loaded, "failing", cases_passed=3, cases=4)
    assert failing["points"] == 15.0  # partial credit: 20 x 3/4
    cheat = grades.entry(catalog.BY_ID["e06"], loaded, "integrity", cases_passed=4, cases=4)
    assert cheat["points"] == 0.0
    config.write_text("[points]\ne99 = 3\n")
    with pytest.raises(ValueError, match="e99"):
        grades.Config.load(config)
    shipped = grades.Config.load()
    assert not shipped.partial_credit and all(p > 0 for p in shipped.points.values())


def test_the_committed_workflow_is_the_generated_one():
    assert classroom.WORKFLOW.read_text() == classroom.classroom_workflow(), (
        "the catalogue or grading.toml changed: run `nox -s classroom` and commit "
        ".github/workflows/classroom.yml")


def test_the_workflow_grades_every_exercise_with_its_points():
    config = grades.Config.load()
    workflow = classroom.classroom_workflow_data(config)
    assert set(workflow["on"]) == {"push", "workflow_dispatch", "repository_dispatch"}
    assert workflow["permissions"]["checks"] == "write"
    job = workflow["jobs"]["autograding"]
    assert job["needs"] == "submission" and "grade == 'yes'" in job["if"]
    steps = job["steps"]
    graders = [s for s in steps if s.get("uses", "").startswith("classroom-resources/autograding-command-grader@")]
    ids = [e.id for e in catalog.EXERCISES]
    assert [s["id"] for s in graders] == ids
    for step, exercise in zip(graders, catalog.EXERCISES):
        inputs = step["with"]
        assert inputs["max-score"] == config.points[exercise.id]
        assert inputs["command"].startswith(f"cd grader && python -m gpt2lab grade {exercise.id} "
                                            "--submission ../submission")
        assert inputs["test-name"].startswith(exercise.id) and isinstance(inputs["timeout"], int)
    [reporter] = [s for s in steps if s.get("uses", "").startswith("classroom-resources/autograding-grading-reporter@")]
    assert steps[-1] is reporter and reporter["with"]["runners"] == ",".join(ids)
    assert reporter["env"] == {f"{i.upper()}_RESULTS": f"${{{{ steps.{i}.outputs.result }}}}" for i in ids}
    # the grader is never the submission: a pinned repository, or the starter commit
    checkout = [s for s in steps[:steps.index(graders[0])] if "grader" in json.dumps(s)]
    assert any(s.get("with", {}).get("repository") == "${{ vars.GPT2LAB_GRADER_REPO }}" for s in checkout)
    assert any("rev-list --max-parents=0" in s.get("run", "") for s in checkout)
    assert any("pip install --quiet -e ./grader" in s.get("run", "") for s in steps)


def test_the_workflow_file_parses_to_what_was_generated():
    yaml = pytest.importorskip("yaml")  # PyYAML comes with transformers
    assert yaml.safe_load(classroom.WORKFLOW.read_text()) == classroom.classroom_workflow_data()


def test_the_yaml_writer_round_trips_awkward_strings():
    yaml = pytest.importorskip("yaml")
    data = {"on": {"push": None}, "a": ["yes", "10", "x: y", "#c", "- d", "${{ e }}", "two\nlines\n", 3, 2.5, True],
            "b": {"c": [{"d": "'q'", "e": ""}]}}
    assert yaml.safe_load(classroom.to_yaml(copy.deepcopy(data))) == data
