"""`nox -s grade`: grades.json and its schema, points from grading.toml, signed results, and the
GitHub Classroom workflow generated from the catalogue."""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import pytest

from gpt2lab import catalog, grading
from tests.project.conftest import ROOT, make_submission


def test_grade_command_writes_grades_json_that_matches_its_schema(tmp_path):
    submission = make_submission(tmp_path)
    out = tmp_path / "grades.json"
    done = subprocess.run([sys.executable, "-m", "gpt2lab", "grade", "e03", "--submission", str(submission),
                           "--out", str(out), "--device", "cpu"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    grades = json.loads(out.read_text())
    assert grading.validate(grades) == []
    [e03] = grades["exercises"]
    assert (e03["id"], e03["status"], e03["points"], e03["explanation"]) == ("e03", "passed", 10.0, None)
    assert e03["cases_passed"] == e03["cases"] > 5
    assert isinstance(grades["kata_seed"], int) and grades["kata_seed"] > 0  # drawn when grading
    assert grades["grader"] == str(ROOT) and grades["submission"] == str(submission)
    assert "total 10/10 points" in done.stdout and "e03" in done.stdout


def valid_document() -> dict:
    entry = grading._entry(catalog.BY_ID["e01"], grading.Config.load(), "passed", cases_passed=3, cases=3)
    return {"schema": grading.SCHEMA_ID, "submission": "/s", "grader": "/g", "graded_at": "2025-01-01T00:00:00+00:00",
            "kata_seed": 1, "device": "cpu", "torch": "2.3", "limits": {"timeout_s": 1.0, "memory_mb": 1},
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
    assert grading.validate(document) == []
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    errors = grading.validate(document)
    assert any(error in e for e in errors), errors
    del document["exercises"][0]["failures"]
    assert any("'failures' is missing" in e for e in grading.validate(document))


def test_points_come_from_grading_toml(tmp_path):
    config = tmp_path / "grading.toml"
    config.write_text('[points]\ndefault = 4\ne06 = 20\n[scoring]\npartial_credit = true\n[limits]\ntimeout = 9\n')
    loaded = grading.Config.load(config)
    assert set(loaded.points) == set(catalog.BY_ID)  # a new kata in the catalogue is graded too
    assert loaded.points["e06"] == 20 and loaded.points["e01"] == 4 and loaded.timeout == 9
    failing = grading._entry(catalog.BY_ID["e06"], loaded, "failing", cases_passed=3, cases=4)
    assert failing["points"] == 15.0  # partial credit: 20 x 3/4
    cheat = grading._entry(catalog.BY_ID["e06"], loaded, "integrity", cases_passed=4, cases=4)
    assert cheat["points"] == 0.0
    config.write_text("[points]\ne99 = 3\n")
    with pytest.raises(ValueError, match="e99"):
        grading.Config.load(config)
    shipped = grading.Config.load()
    assert not shipped.partial_credit and all(p > 0 for p in shipped.points.values())


def test_a_result_without_the_graders_signature_is_refused(tmp_path):
    child = grading._Child(catalog.BY_ID["e01"], process=None, key="k" * 64,
                           files={"result": tmp_path / "e01.result"}, started=0.0)
    (tmp_path / "e01.result").write_text(json.dumps({"payload": json.dumps({"status": "passed"}), "mac": "0" * 64}))
    payload, refused = grading._verified_result(child)
    assert payload is None and "signature" in refused
    body = json.dumps({"status": "passed"})
    import hashlib
    import hmac
    mac = hmac.new(child.key.encode(), body.encode(), hashlib.sha256).hexdigest()
    (tmp_path / "e01.result").write_text(json.dumps({"payload": body, "mac": mac}))
    assert grading._verified_result(child) == ({"status": "passed"}, None)


# ---------------------------------------------------------------------------------------------
# GitHub Classroom
# ---------------------------------------------------------------------------------------------

def test_the_committed_workflow_is_the_generated_one():
    assert grading.WORKFLOW.read_text() == grading.classroom_workflow(), (
        "the catalogue or grading.toml changed: run `nox -s classroom` and commit "
        ".github/workflows/classroom.yml")


def test_the_workflow_grades_every_exercise_with_its_points():
    config = grading.Config.load()
    workflow = grading.classroom_workflow_data(config)
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
    assert yaml.safe_load(grading.WORKFLOW.read_text()) == grading.classroom_workflow_data()


def test_the_yaml_writer_round_trips_awkward_strings():
    yaml = pytest.importorskip("yaml")
    data = {"on": {"push": None}, "a": ["yes", "10", "x: y", "#c", "- d", "${{ e }}", "two\nlines\n", 3, 2.5, True],
            "b": {"c": [{"d": "'q'", "e": ""}]}}
    assert yaml.safe_load(grading.to_yaml(copy.deepcopy(data))) == data
