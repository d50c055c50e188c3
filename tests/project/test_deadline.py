"""A loop that never ends (gpt2lab/deadline.py): the test it was in is stopped after the time limit
and named, what builds on it is not waited for, and nothing of the check outlives nox."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gpt2lab.check import BLOCKED, FAILING, PASSED
from gpt2lab.report import render
from tests.project.conftest import ROOT, make_package

FORWARD = "def forward(self, x: torch.Tensor) -> torch.Tensor:"
LOOP = "\n        while x is not None:  # never ends\n            pass"


def test_a_loop_that_never_ends_is_stopped_named_and_not_waited_for_again(grade):
    started = time.monotonic()
    results = grade(["e01", "e03", "e05"], edits={"e01_layer_norm": [(FORWARD, FORWARD + LOOP)]}, time_limit=1.5)
    elapsed = time.monotonic() - started
    e01, e03, e05 = results["e01"], results["e03"], results["e05"]
    assert e01.status == FAILING and e03.status == PASSED
    problem = e01.first_problem()
    message = problem["message"]
    assert message.startswith("stopped after 1.5 s, the time limit"), message
    assert "e01_layer_norm.py:" in message and "in forward\n    while x is not None:" in message
    assert "A loop that never ends?" in message and "--time-limit" in message
    assert problem["in_exercise"] == "e01" and problem["diagnosis"] == "time limit"
    later = [v for v in e01.graded if v["status"] != "passed" and v is not problem]
    assert later and all(v["message"].startswith("not run: an earlier case of e01") for v in later)
    # e05 calls e01's LayerNorm: not waited for again, blocked by e01
    assert e05.status == BLOCKED and e05.blocked_by == ("e01",)
    assert all("not run: it builds on e01" in v["message"] for v in e05.graded if v["status"] != "passed")
    assert elapsed < 60, f"{elapsed:.0f} s: the limit was waited for more than once"
    text = render(list(results.values()), header="H")
    assert f"First problem in e01 (exercises/e01_layer_norm.py), test {problem['test']}" in text


def test_a_slow_test_outside_the_learners_code_does_not_stop_the_rest(grade, monkeypatch):
    """Stopped in the suite's own code: a slow machine, not a loop. The other cases still run."""
    from gpt2lab import reference

    slow = reference.randn

    def randn(*args, **kwargs):
        if kwargs.get("seed") == 7:  # test_default_eps's input only
            time.sleep(30)
        return slow(*args, **kwargs)

    monkeypatch.setattr(reference, "randn", randn)
    result = grade(["e01"], time_limit=1.0)["e01"]
    [stopped] = [v for v in result.graded if v["status"] != "passed"]
    assert "outside your code" in stopped["message"] and "allow more time" in stopped["message"]
    assert result.passed == len(result.graded) - 1


def test_a_time_limit_that_is_not_a_number_of_seconds_is_refused(capsys):
    from gpt2lab import cli

    for bad in ("-3", "soon", "nan"):
        with pytest.raises(SystemExit) as stop:
            cli.main(["check", "e01", "--time-limit", bad])
        assert stop.value.code == 2 and "is not a number of seconds" in capsys.readouterr().err


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent to read its status counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_nothing_of_the_check_outlives_nox(tmp_path):
    """`nox -s check` killed while the learner's code loops: the checking process ends too."""
    pidfile = tmp_path / "pid"
    loop = (f"\n        import os\n        open({str(pidfile)!r}, 'w').write(str(os.getpid()))"
            "\n        while x is not None:\n            pass")
    package = make_package(tmp_path, ROOT / "solutions", {"e01_layer_norm": [(FORWARD, FORWARD + loop)]})
    nox = subprocess.Popen([sys.executable, "-m", "nox", "-f", str(ROOT / "noxfile.py"), "-s", "check", "--",
                            "e01", "--impl", package, "--root", str(tmp_path), "--device", "cpu",
                            "--time-limit", "600"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not pidfile.exists() or not pidfile.read_text():
            assert nox.poll() is None and time.monotonic() < deadline, "the check never reached the loop"
            time.sleep(0.1)
        checker = int(pidfile.read_text())
        assert alive(checker)
        nox.kill()  # SIGKILL: nox cannot pass anything on itself
        nox.wait()
        deadline = time.monotonic() + 20
        while alive(checker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(checker), "the checking process outlived nox"
    finally:
        if nox.poll() is None:
            nox.kill()
        if pidfile.exists() and pidfile.read_text() and alive(int(pidfile.read_text())):
            os.kill(int(pidfile.read_text()), signal.SIGKILL)
