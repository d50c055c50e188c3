"""One sandbox, a whole class: what a submission leaves in a kept sandbox never reaches the next.

A judge process that grades a class keeps its sandboxes (sandbox.Kept): their zygotes import torch
and transformers once, and each submission's files are put in place after a reset. These attacks
are a first student's parting gifts to the next: a daemon, files in the scratch space (one where
the next worker's would go, one made read-only), a log filled to its size limit, a stopped zygote.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

from gpt2lab import catalog
from gpt2lab.teacher import classroom_grading, gradebook, sandbox
from tests.project.conftest import ROOT
from tests.project.test_sandbox import leftover_processes, running, stub

pytestmark = [pytest.mark.skipif(sandbox.probe() is not None, reason=f"no sandbox here: {sandbox.probe()}"),
              pytest.mark.xdist_group("sandbox")]  # one pytest worker: each looks for processes left behind
MARKER = "gpt2lab-class-marker"  # not test_sandbox.py's


def files(tmp_path: Path, name: str, who: str) -> Path:
    folder = tmp_path / name / "exercises"
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text("")  # the package: the grader puts its own there
    (folder / "e01_layer_norm.py").write_text(f"WHO = {who!r}\n")
    return folder


def test_nothing_of_one_submission_reaches_the_next_in_a_kept_sandbox(tmp_path):
    kept = sandbox.Kept()
    limits = sandbox.Limits(file_mb=1)
    options = dict(pretrained=False, device="cpu", threads=1, limits=limits)
    try:
        zygote = kept.zygote(files(tmp_path, "alice", "alice"), **options)
        alice = zygote.spawn("e01")
        assert alice.module("exercises.e01_layer_norm").WHO == "alice"
        os_ = alice.module("os")
        alice.module("subprocess").Popen([MARKER, "600"], executable="/bin/sleep", start_new_session=True)
        home = os_.environ["HOME"]  # /tmp/<n>: the next worker's will be /tmp/<n+1>
        os_.makedirs(home[:-1] + str(int(home[-1]) + 1) + "/trap")
        os_.makedirs("/tmp/locked/inside")
        os_.chmod("/tmp/locked/inside", 0)
        os_.chmod("/tmp/locked", 0o500)
        alice.module("sys").stderr.write("x" * (1 << 20))  # the log is full: a print would now fail
        alice.close()
        kept.release()

        again = kept.zygote(files(tmp_path, "bob", "bob"), **options)
        assert again is zygote  # the same sandbox, torch not imported again
        bob = again.spawn("e01")
        assert bob.module("exercises.e01_layer_norm").WHO == "bob"
        bob_os = bob.module("os")
        assert MARKER not in running(bob)
        assert sorted(bob_os.listdir("/tmp")) == [bob_os.path.basename(bob_os.environ["HOME"])]
        assert bob.module("sys").stderr.write("a learner's print\n" * 100) == 1800  # the log is bob's
        bob.close()
    finally:
        kept.close()
    assert leftover_processes(MARKER) == []


def test_a_submission_that_stops_its_zygote_gets_the_next_one_a_new_sandbox(tmp_path):
    kept = sandbox.Kept(answer_within=2.0)
    options = dict(pretrained=False, device="cpu", threads=1, limits=sandbox.Limits())
    try:
        zygote = kept.zygote(files(tmp_path, "alice", "alice"), **options)
        alice = zygote.spawn("e01")
        os_ = alice.module("os")
        os_.kill(os_.getppid(), 19)  # SIGSTOP to the zygote: its parent, the same uid
        alice.close()
        kept.release()
        again = kept.zygote(files(tmp_path, "bob", "bob"), **options)
        assert again is not zygote
        bob = again.spawn("e01")
        assert bob.module("exercises.e01_layer_norm").WHO == "bob"
        bob.close()
    finally:
        kept.close()


def test_a_worker_cannot_reach_into_its_zygote(tmp_path):
    kept = sandbox.Kept()
    try:
        zygote = kept.zygote(files(tmp_path, "alice", "alice"), pretrained=False, device="cpu", threads=1,
                             limits=sandbox.Limits())
        alice = zygote.spawn("e01")
        os_ = alice.module("os")
        parent = os_.getppid()
        for path in (f"/proc/{parent}/mem", f"/proc/{parent}/environ"):
            with pytest.raises(PermissionError):
                os_.open(path, os_.O_RDONLY)
        alice.close()
    finally:
        kept.close()


SABOTEUR = '''
import os, signal, subprocess
subprocess.Popen(["{marker}", "600"], executable="/bin/sleep", start_new_session=True)
os.makedirs("/tmp/left-behind", exist_ok=True)
os.kill(os.getppid(), signal.SIGSTOP)  # the zygote, for whoever comes next
'''


def test_in_a_class_a_saboteur_costs_the_next_student_nothing(tmp_path):
    klass = tmp_path / "class"
    ids = [catalog.BY_ID["e02"], catalog.BY_ID["e03"]]
    for name in ("a-saboteur", "b-perfect"):
        (klass / name / "exercises").mkdir(parents=True)
        for e in catalog.EXERCISES:
            (klass / name / "exercises" / f"{e.module}.py").write_text(stub(e.module))
    for e in ids:
        shutil.copyfile(ROOT / "solutions" / f"{e.module}.py", klass / "b-perfect" / "exercises" / f"{e.module}.py")
    saboteur = (ROOT / "solutions" / "e03_heads.py").read_text() + SABOTEUR.format(marker=MARKER)
    (klass / "a-saboteur" / "exercises" / "e03_heads.py").write_text(saboteur)
    book = classroom_grading.grade_class(gradebook.roster([klass]), tmp_path / "out", ids, jobs=1,
                                         stream=io.StringIO())  # one judge: the same sandbox, in turn
    assert {r["student"]: r["total"] for r in book["students"]} == {"a-saboteur": 10.0, "b-perfect": 20.0}
    assert leftover_processes(MARKER) == []
