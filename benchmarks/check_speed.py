"""How long the kata makes people wait, measured from cold processes.

    python benchmarks/check_speed.py            # everything (a few minutes on 2 cores)
    python benchmarks/check_speed.py --quick    # the floors and `nox -s check -- e01` only

What it measures, each in a fresh process, as a learner or a teacher would run it:
- the floors: `import torch`, and torch plus transformers' GPT-2 module (best of --repeat);
- `nox -s hint -- e01 --all`, which must not import torch (best of --repeat);
- `nox -s check -- e01` on the stubs, and `python -m gpt2lab check e01` (best of --repeat);
- every hidden suite against the solutions with pytest-xdist (`nox -s solutions -- -n 2`), with
  pytest's slowest tests;
- `nox -s grade` of one submission whose exercises are the solutions (every case runs), with the
  seconds of each exercise from its grades.json;
- watch mode (`python -m gpt2lab watch` on a copy of the solutions, every exercise watched): each
  exercise's file saved with a classic mistake (tests/project/mutants), then fixed; for each save,
  the seconds from the save to the verdict, and to the end of checking again the exercises built on
  it (`--watch-only` measures this alone).
Goals (2-core CPU): check e01 within 1.5 s of its floor, at most ~6 s; every suite in 60 s;
one grade in 90 s; a verdict within 1 s of a save. Machine load distorts every number: run it on
a quiet machine (`uptime`).
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


def watch_latency(pause: float = 1.0) -> dict[str, tuple[float, float, float, float]]:
    """exercise id -> (verdict on the mistake, all checked; verdict on the fix, all checked), in s."""
    sys.path.insert(0, str(ROOT))
    from gpt2lab import catalog
    from tests.project.conftest import make_package
    from tests.project.mutants import all_mutants
    from tests.project.test_watch import Lines

    mutants = {}
    for mutant in all_mutants():
        mutants.setdefault(mutant.exercise, mutant)
    timings = {}
    with tempfile.TemporaryDirectory() as tmp:
        package = make_package(Path(tmp), ROOT / "solutions")
        watcher = subprocess.Popen(
            [PY, "-m", "gpt2lab", "watch", "--impl", package, "--root", tmp, "--device", "cpu",
             "--interval", "0.05", "--timeout", "900"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env=dict(os.environ, PYTHONIOENCODING="utf-8"))
        lines = Lines(watcher.stdout)
        try:
            lines.until(r"^Watching ", timeout=600)
            for exercise in catalog.EXERCISES:
                target = Path(tmp) / package / f"{exercise.module}.py"
                fixed = target.read_text()
                broken = fixed
                for old, new in mutants[exercise.id].edits:
                    broken = broken.replace(old, new, 1)
                seconds = []
                for text in (broken, fixed):
                    time.sleep(pause)
                    target.write_text(text)
                    saved = time.monotonic()
                    arrived, out = lines.until(r"^(Watching|Checking) ", timeout=300)
                    seconds.append(arrived - saved)
                    if out.rstrip().splitlines()[-1].startswith("Checking"):
                        arrived, _ = lines.until(r"^Watching ", timeout=300)
                    seconds.append(arrived - saved)
                timings[exercise.id] = tuple(seconds)
        finally:
            watcher.kill()
            watcher.wait()
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="cold runs of the short commands (best is kept)")
    parser.add_argument("--quick", action="store_true", help="only the floors and the check of e01")
    parser.add_argument("--watch-only", action="store_true", help="only watch mode's latency")
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args()

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{os.cpu_count()} CPUs, load average {load:.2f}, {PY}")
    results: dict[str, float] = {}

    def report(label: str, seconds: float, command: str) -> None:
        results[label] = round(seconds, 2)
        print(f"  {seconds:6.2f} s  {label:<44} {command}")

    if args.watch_only:
        measure_watch(results)
    else:
        measure_waits(args, report, results)
    if args.json:
        Path(args.json).write_text(json.dumps({"load": load, "cpus": os.cpu_count(), **results}, indent=1))
    return 0


def measure_waits(args, report, results: dict) -> None:
    """The floors, a cold check, and (without --quick) every suite, one grade and watch mode."""
    report("import torch (floor)", best([PY, "-c", "import torch"], args.repeat), 'python -c "import torch"')
    report("import torch + transformers GPT-2 (floor)",
           best([PY, "-c", "import torch, transformers.models.gpt2.modeling_gpt2"], args.repeat),
           'python -c "import torch, transformers.models.gpt2.modeling_gpt2"')
    report("a hint, cold, with nox (no torch)", best([*NOX, "-s", "hint", "--", "e01", "--all"], args.repeat),
           "nox -s hint -- e01 --all")
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
        measure_watch(results)


def measure_watch(results: dict) -> None:
    print("  watch mode, every exercise watched: seconds from a save to the verdict / to the end of "
          "checking again what is built on it")
    timings = watch_latency()
    for exercise, (wrong, wrong_all, right, right_all) in timings.items():
        print(f"      {exercise}  a classic mistake saved {wrong:5.2f} / {wrong_all:5.2f}    "
              f"fixed {right:5.2f} / {right_all:5.2f}")
        results[f"watch {exercise}"] = [round(t, 2) for t in (wrong, wrong_all, right, right_all)]
    slowest_verdict = max(max(wrong, right) for wrong, _, right, _ in timings.values())
    print(f"  {slowest_verdict:6.2f} s  slowest verdict after a save (goal: 1 s)")


if __name__ == "__main__":
    sys.exit(main())
