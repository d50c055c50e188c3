"""What answers before torch is imported (importing it takes 1-3 s): a hint, the first lines of
`nox -s env` and of the progress table; and nox says nothing about uv before each command."""

from __future__ import annotations

import subprocess
import sys

from gpt2lab.check import ROOT
from tests.project.conftest import stubs_root

# Runs COMMAND with gpt2lab's cli.main in a fresh Python; the first write to stdout records whether
# torch was imported by then. Prints "torch before the first line: True/False" at the end.
PROBE = """
import sys
from gpt2lab.cli import main

class First:
    def __init__(self, stream):
        self.stream, self.torch = stream, None
    def write(self, text):
        if self.torch is None and text.strip():
            self.torch = "torch" in sys.modules
        return self.stream.write(text)
    def __getattr__(self, name):  # isatty, encoding, ...
        return getattr(self.stream, name)

probe = sys.stdout = First(sys.stdout)
try:
    main(sys.argv[1:])
finally:
    sys.stdout = probe.stream
    print("torch before the first line:", probe.torch)
"""


def probe(*args: str, cwd=ROOT) -> str:
    done = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"})
    assert "Traceback" not in done.stderr, done.stderr
    return done.stdout


def test_a_hint_never_imports_torch(tmp_path):
    out = probe("hint", "e02", "--root", str(tmp_path))
    assert "hint 1 of" in out and out.rstrip().endswith("torch before the first line: False")


def test_the_first_lines_of_env_and_of_check_come_before_torch(tmp_path):
    out = probe("env")
    assert out.startswith("GPT-2 kata — your environment") and "torch before the first line: False" in out
    out = probe("check", "e03", "--root", str(stubs_root()), "--device", "cpu")
    assert out.startswith(f"GPT-2 kata — checking {stubs_root().name}/exercises/ ...\n"), out
    assert "not started" in out and "torch before the first line: False" in out


def test_nox_does_not_talk_about_uv(tmp_path):
    done = subprocess.run([sys.executable, "-m", "nox", "-f", str(ROOT / "noxfile.py"), "-s", "hint", "--",
                           "e01", "--root", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "hint 1 of" in done.stdout and "uv" not in done.stdout + done.stderr
