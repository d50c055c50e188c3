"""How long the kata makes people wait, measured from cold processes.

    python benchmarks/check_speed.py            # everything (a few minutes on 2 cores)
    python benchmarks/check_speed.py --quick    # the floors and `nox -s check -- e01` only

What it measures, each in a fresh process, as a learner or a teacher would run it:
- the floors: `import torch`, and torch plus transformers' GPT-2 module (best of --repeat);
- `nox -s check -- e01` on the stubs, and `python -m gpt2lab check e01` (best of --repeat);
- every hidden suite against the solutions with pytest-xdist (`nox -s solutions -- -n 2`), with
  pytest's slowest tests;
- `nox -s grade` of one submission whose exercises are the solutions (every case runs), with the
  seconds of each exercise from its grades.json.
Goals (2-core CPU): check e01 within 1.5 s of its floor, at most ~6 s; every suite in 60 s;
one grade in 90 s. Machine load distorts every number: run it on a quiet machine (`uptime`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
NOX = [PY, "-m", "nox"]


def timed(command: list[str], *, cwd: Path = ROOT, check_codes=(0, 1)) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode not in check_codes:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return seconds, done.stdout + done.stderr


def best(command: list[str], repeat: int) -> float:
    return min(timed(command)[0] for _ in range(repeat))


def slowest(output: str, n: int = 6) -> list[str]:
    lines = output.splitlines()
    start = next((i for i, line in enumerate(lines) if "slowest" in line and "durations" in line), None)
    if start is None:
        return []
    return [line for line in lines[start + 1:] if line.strip() and line[0].isdigit()][:n]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="cold runs of the short commands (best is kept)")
    parser.add_argument("--quick", action="store_true", help="only the floors and the check of e01")
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args()

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{os.cpu_count()} CPUs, load average {load:.2f}, {PY}")
    results: dict[str, float] = {}

    def report(label: str, seconds: float, command: str) -> None:
        results[label] = round(seconds, 2)
        print(f"  {seconds:6.2f} s  {label:<44} {command}")

    report("import torch (floor)", best([PY, "-c", "import torch"], args.repeat), 'python -c "import torch"')
    report("import torch + transformers GPT-2 (floor)",
           best([PY, "-c", "import torch, transformers.models.gpt2.modeling_gpt2"], args.repeat),
           'python -c "import torch, transformers.models.gpt2.modeling_gpt2"')
    report("check e01, cold, with nox", best([*NOX, "-s", "check", "--", "e01"], args.repeat),
           "nox -s check -- e01")
    report("check e01, cold, without nox", best([PY, "-m", "gpt2lab", "check", "e01"], args.repeat),
           "python -m gpt2lab check e01")
    if not args.quick:
        seconds, _ = timed([*NOX, "-s", "solutions", "--", "-n", "2"], check_codes=(0,))
        report("every suite vs the solutions, xdist -n 2", seconds, "nox -s solutions -- -n 2")
        seconds, output = timed([PY, "-m", "pytest", "tests/katas", "--impl", "solutions", "-n", "2", "-q",
                                 "-p", "no:randomly", "--durations=8"], check_codes=(0,))
        report("the same with pytest directly", seconds, "pytest tests/katas --impl solutions -n 2")
        for line in slowest(output):
            print(f"      {line}")
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copytree(ROOT / "solutions", Path(tmp) / "exercises")
            out = Path(tmp) / "grades.json"
            seconds, _ = timed([*NOX, "-s", "grade", "--", "--submission", tmp, "--out", str(out)], check_codes=(0,))
            report("grade one submission (every case runs)", seconds, "nox -s grade -- --submission DIR")
            grades = json.loads(out.read_text())
            print("      " + ", ".join(f"{e['id']} {e['seconds']:.1f} s" for e in grades["exercises"])
                  + "  (each after its process is ready)")
    if args.json:
        Path(args.json).write_text(json.dumps({"load": load, "cpus": os.cpu_count(), **results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
