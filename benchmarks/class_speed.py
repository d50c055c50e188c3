"""A class graded in one command against the same submissions graded one command at a time.

    python benchmarks/class_speed.py [N]     # N perfect submissions (the solutions), default 20

Both runs grade every exercise of every submission, sandboxed, with one kata seed; the machine's
load is printed before each so that the ratio can be read beside it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(n: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="gpt2lab-class-speed-"))
    try:
        for i in range(n):
            shutil.copytree(ROOT / "solutions", work / "class" / f"student{i:02d}" / "exercises")
        grade = [sys.executable, "-m", "gpt2lab", "grade", "--kata-seed", "11"]
        print(f"load {os.getloadavg()[0]:.2f}: {n} submissions, one `grade --submission` each ...", flush=True)
        began = time.monotonic()
        for i in range(n):
            folder = work / "class" / f"student{i:02d}"
            subprocess.run([*grade, "--submission", str(folder), "--out", str(work / f"single{i}.json")], cwd=ROOT,
                           check=False, capture_output=True)
        one_by_one = time.monotonic() - began
        print(f"load {os.getloadavg()[0]:.2f}: the same {n} with `grade --class` ...", flush=True)
        began = time.monotonic()
        subprocess.run([*grade, "--class", str(work / "class"), "--out", str(work / "out")], cwd=ROOT, check=False,
                       capture_output=True)
        at_once = time.monotonic() - began
        book = (work / "out" / "gradebook.csv").read_text().splitlines()
        totals = {line.rsplit(",", 1)[1] for line in book[1:]}
        print(f"{n} submissions: one by one {one_by_one:.0f} s, as a class {at_once:.0f} s, "
              f"{one_by_one / at_once:.1f}x faster; totals in the gradebook: {sorted(totals)}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
