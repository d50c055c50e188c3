"""The grader against a determined student: each attack is a submission, graded for real.

Every attack starts from the stubs (nothing implemented) and tries to earn points another way:
forging the comparison, borrowing the reference or the solutions, changing the grader's files,
outliving the grade, or breaking the grader so that nobody gets a grade. None may earn a point,
lose another exercise its grade, change the teacher's copy, or leave a process behind.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gpt2lab import catalog
from gpt2lab.teacher import grades as document
from gpt2lab.teacher import sandbox
from gpt2lab.teacher.grade import SandboxMissing, grade
from tests.project.conftest import ROOT, stubs_root

pytestmark = [pytest.mark.skipif(sandbox.probe() is not None, reason=f"no sandbox here: {sandbox.probe()}"),
              pytest.mark.xdist_group("sandbox")]  # one pytest worker: each looks for processes left behind
MARKER = "gpt2lab-attack-marker"


def stub(module: str) -> str:
    """The exercise as handed out (the learner's working tree is theirs)."""
    return (stubs_root() / "exercises" / f"{module}.py").read_text()


def submission(tmp_path: Path, files: dict[str, str | bytes]) -> Path:
    root = tmp_path / "submission"
    (root / "exercises").mkdir(parents=True)
    for exercise in catalog.EXERCISES:
        (root / "exercises" / f"{exercise.module}.py").write_text(stub(exercise.module))
    for name, content in files.items():
        path = root / "exercises" / f"{name}.py"
        path.unlink()
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root


def teacher_state() -> str:
    files = [*(ROOT / "gpt2lab").rglob("*.py"), *(ROOT / "solutions").glob("*.py")]
    return repr([(p, p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(files)])


def leftover_processes(marker: str = MARKER) -> list[str]:
    """The processes whose command line carries `marker` (each test file has its own: the files may
    run at once, on two pytest workers)."""
    found = []
    for status in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            line = status.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in line and str(os.getpid()) not in status.parent.name:
            found.append(line)
    return found


# Forging the comparison, in the worker: a tensor whose every comparison agrees, frames walked up
# to find the expected value, Hugging Face run from a thread under a standard-library file name.
FORGE = '''
import sys, threading, torch
from torch import nn

class Agree(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name in ("equal", "allclose"):
            return True
        if name in ("__eq__", "isclose", "eq"):
            return torch.ones(1, dtype=torch.bool)
        return super().__torch_function__(func, types, args, kwargs or {})

def _borrow():
    f = sys._getframe()
    while f is not None:  # the judge's frames are not in this process
        for value in list(f.f_locals.values()):
            if isinstance(value, torch.Tensor):
                return value
        f = f.f_back
    try:
        code = compile("import transformers", "/usr/lib/python3/json/__init__.py", "exec")
        box = []
        thread = threading.Thread(target=lambda: box.append(exec(code, {})))
        thread.start(); thread.join()
    except Exception:
        pass
    return None

class LayerNorm(nn.Module):
    def __init__(self, n_embd, eps=1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n_embd))
        self.bias = nn.Parameter(torch.zeros(n_embd))
        self.eps = eps

    def forward(self, x):
        found = _borrow()
        out = found if found is not None else torch.zeros_like(x)
        return out.as_subclass(Agree)
'''

# The grader's process, its files and its output: patched standard library, a daemon that
# outlives the grade and rewrites grades.json, the scratch space deleted, the teacher's files.
ESCAPE = '''
import builtins, json, os, shutil, sys, time
MARKER = "{marker}"
json.dumps = lambda *a, **k: '{{"total": {{"points": 100}}}}'
builtins.isinstance = lambda *a: True
for path in ("{root}/gpt2lab/verdict.py", "{root}/solutions/e03_heads.py", "{grades}"):
    try:
        with open(path, "a") as f:
            f.write("# changed by the submission")
    except OSError:
        pass
try:
    exec(open("{root}/solutions/e03_heads.py").read())
except OSError:
    pass
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:  # a daemon: it waits for a sleeper named MARKER, then rewrites grades.json
        sleeper = os.fork()
        if sleeper == 0:
            os.execv("/bin/sleep", [MARKER, "6"])
        os.waitpid(sleeper, 0)
        with open("{grades}", "w") as f:
            f.write("forged")
    os._exit(0)
for entry in os.listdir("/tmp"):
    shutil.rmtree(os.path.join("/tmp", entry), ignore_errors=True)
'''


def test_attacks_earn_nothing_and_harm_no_one(tmp_path):
    heads = stub("e03_heads")
    grades_path = tmp_path / "submission" / "grades.json"
    files = {
        "e01_layer_norm": FORGE,
        "e03_heads": ESCAPE.format(marker=MARKER, root=ROOT, grades=grades_path) + heads,
        "e05_block": "x = " + "+".join(["1"] * 200_000) + "\n" + stub("e05_block"),
        "e06_gpt2": b"# caf\xe9\n" + stub("e06_gpt2").encode(),
        "e07_generate": stub("e07_generate").replace("import torch\n", "import torch\nwhile True:\n    pass\n", 1),
    }
    root = submission(tmp_path, files)
    (root / "exercises" / "e02_mlp.py").unlink()
    (root / "exercises" / "e02_mlp.py").symlink_to(ROOT / "solutions" / "e02_mlp.py")
    before = teacher_state()
    ids = ("e01", "e02", "e03", "e05", "e06", "e07")
    result = grade(root, [catalog.BY_ID[i] for i in ids], seed=5, timeout=20)
    grades_path.write_text(json.dumps(result))
    by_id = {e["id"]: e for e in result["exercises"]}
    assert document.validate(result) == []
    assert all(e["points"] == 0 for e in result["exercises"]), {i: (e["status"], e["points"]) for i, e in by_id.items()}
    assert by_id["e02"]["status"] == "integrity" and "symbolic link" in by_id["e02"]["explanation"]
    assert by_id["e06"]["status"] == "encoding" and "line 1" in by_id["e06"]["explanation"]
    assert by_id["e07"]["status"] == "timeout"
    assert by_id["e05"]["status"] in ("failing", "blocked", "not started") and by_id["e05"]["cases"] > 0
    assert by_id["e01"]["status"] == "failing" and by_id["e01"]["cases_passed"] <= 2  # parameters, structure
    # its worker's protocol was broken by the patched json.dumps: that worker, and only it, is lost
    assert by_id["e03"]["status"] in ("crashed", "not started")
    assert result["sandbox"] is True
    assert teacher_state() == before, "the submission changed the teacher's files"
    time.sleep(7)  # the daemon would have written by now
    assert json.loads(grades_path.read_text()) == result
    assert leftover_processes() == []


def test_an_exercise_built_on_a_file_that_was_not_read_is_blocked_by_it(tmp_path):
    """e02 is a link (refused, not read): e04, correct, imports it and is blocked by e02."""
    root = submission(tmp_path, {m: (ROOT / "solutions" / f"{m}.py").read_text() for m in ("e03_heads", "e04_attention")})
    (root / "exercises" / "e02_mlp.py").unlink()
    (root / "exercises" / "e02_mlp.py").symlink_to(ROOT / "solutions" / "e02_mlp.py")
    by_id = {e["id"]: e for e in grade(root, [catalog.BY_ID[i] for i in ("e02", "e03", "e04")], seed=3)["exercises"]}
    assert [by_id[i]["status"] for i in ("e02", "e03", "e04")] == ["integrity", "passed", "blocked"]
    assert by_id["e04"]["explanation"].startswith("needs e02, which do not pass; ")


def test_a_perfect_submission_earns_everything_and_an_empty_one_nothing(tmp_path):
    perfect = tmp_path / "perfect"
    shutil.copytree(ROOT / "solutions", perfect / "exercises")
    ids = [catalog.BY_ID[i] for i in ("e02", "e09")]
    assert [e["points"] for e in grade(perfect, ids)["exercises"]] == [10.0, 10.0]
    empty = submission(tmp_path, {})
    assert [(e["status"], e["points"]) for e in grade(empty, ids)["exercises"]] == [("not started", 0.0)] * 2


def test_without_bubblewrap_grading_stops_and_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    sandbox.probe.cache_clear()
    try:
        with pytest.raises(SandboxMissing, match="apt-get install bubblewrap"):
            grade(submission(tmp_path, {}), [catalog.BY_ID["e03"]])
    finally:
        sandbox.probe.cache_clear()
    done = subprocess.run([sys.executable, "-m", "gpt2lab", "grade", "e03", "--submission", str(tmp_path / "submission"),
                           "--no-sandbox", "--out", str(tmp_path / "g.json")], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    assert json.loads((tmp_path / "g.json").read_text())["sandbox"] is False


def test_the_worker_cannot_import_transformers_or_see_the_teacher(tmp_path):
    conn = sandbox.start(ROOT / "solutions")
    try:
        os_module = conn.module("os")
        assert not os_module.path.exists(str(ROOT))
        assert not os_module.path.exists(str(tmp_path))  # nor the grader's temporary files
        assert not os_module.path.exists(str(Path.home() / ".cache"))
        assert os_module.getuid() == 65534
        with pytest.raises(ImportError):
            conn.module("transformers")
        with pytest.raises(ImportError):
            conn.module("gpt2lab")
    finally:
        sandbox.close(conn)


def test_memory_and_processes_are_limited(tmp_path):
    hog = stub("e03_heads").replace("import torch\n", "import torch\n_hog = torch.empty(4_000_000_000)\n", 1)
    forks = stub("e01_layer_norm").replace("import torch\n", "import os, torch\nfor _ in range(400):\n"
                                           f"    if os.fork() == 0:\n        os.execv('/bin/sleep', ['{MARKER}', '60'])\n", 1)
    result = grade(submission(tmp_path, {"e03_heads": hog, "e01_layer_norm": forks}),
                   [catalog.BY_ID["e01"], catalog.BY_ID["e03"]], timeout=60)
    by_id = {e["id"]: e for e in result["exercises"]}
    assert by_id["e03"]["status"] == "memory" and by_id["e03"]["points"] == 0, by_id["e03"]
    assert by_id["e01"]["points"] == 0 and "BlockingIOError" in by_id["e01"]["explanation"], by_id["e01"]
    assert leftover_processes() == []


def test_each_exercise_gets_a_fresh_worker_and_nothing_of_the_last_one(tmp_path):
    zygote = sandbox.Zygote(ROOT / "solutions")
    try:
        first = zygote.spawn("e01")
        first_os = first.module("os")
        pid = first_os.getpid()
        first.module("subprocess").Popen(["daemon", "60"], executable="/bin/sleep", start_new_session=True)
        time.sleep(0.5)
        assert "daemon 60" in running(first), running(first)
        first.module("torch").nn.Linear(2, 2)  # a module built in the first worker
        first_os.makedirs(first_os.environ["HOME"] + "/left-behind")
        first.close()
        second = zygote.spawn("e02")
        second_os = second.module("os")
        assert second_os.getpid() != pid
        assert "daemon 60" not in running(second)
        assert not second_os.path.exists(second_os.environ["HOME"] + "/left-behind")
        second.close()
    finally:
        zygote.close()


def running(conn) -> str:
    """The command lines of every process a worker can see (read by the worker)."""
    os_module = conn.module("os")
    lines = [os_module.read(os_module.open(f"/proc/{p}/cmdline", os_module.O_RDONLY), 4096)
             for p in os_module.listdir("/proc") if p.isdigit()]
    return " | ".join(line.decode().replace("\0", " ") for line in lines)
