"""Correct code must pass every hidden suite on every seed: a grade draws its own (--kata-seed).

    python benchmarks/seed_sweep.py                     # seeds 0-199, every implementation (hours on 2 cores)
    python benchmarks/seed_sweep.py --seeds 20 --start 5000 --impl solutions --exercises e10
    python benchmarks/seed_sweep.py --seeds 0 --mutant-seeds 3  # the classic mistakes on seeds 1-3 only

Runs the suites of tests/katas against the reference solutions and the independent implementations
of tests/project (alternative; hf_port, Hugging Face's own modules, e01 to e08) on consecutive seeds,
and prints every failure: the seed, the implementation, the test, its case and the first lines of
its message. A test that does not take the `seed` fixture draws the same case on every seed: it runs
on the first seed only. With --mutant-seeds N it also checks that every classic mistake of
tests/project/mutants still fails its exercise, with its diagnosis, on seeds 1 to N.

The work is split among --workers processes (one torch thread each); each runs the suites in its
own process with pytest, seed after seed, and drops the reference modules it built between seeds.
Machine load distorts the times: the summary gives `uptime`'s load average before and after.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IMPLEMENTATIONS = {  # name -> (package, the directory that holds it)
    "solutions": ("solutions", ROOT),
    "alternative": ("alternative", ROOT / "tests" / "project"),
    "hf_port": ("hf_port", ROOT / "tests" / "project"),
}


class SeedIndependentOnce:
    """A pytest plugin: after the first seed, deselect the tests that do not take the `seed` fixture."""

    def __init__(self, first: bool):
        self.first = first

    def pytest_collection_modifyitems(self, config, items):
        if self.first:
            return
        keep = [item for item in items if "seed" in getattr(item, "fixturenames", ())]
        config.hook.pytest_deselected(items=[item for item in items if item not in keep])
        items[:] = keep


def _setup() -> None:
    sys.path.insert(0, str(ROOT))
    import torch

    torch.set_num_threads(1)


def _forget_references() -> None:
    from gpt2lab import reference

    for function in vars(reference).values():
        if hasattr(function, "cache_clear"):
            function.cache_clear()


def _failures(results, **where) -> list[dict]:
    return [{**where, "exercise": r.exercise.id, "test": v["test"], "case": v["case"],
             "diagnosis": v.get("diagnosis"), "message": v.get("message", "")}
            for r in results for v in r.graded if v["status"] != "passed"]


def sweep(impl: str, exercises: list[str], seeds: list[int], first: int) -> tuple[list[dict], int]:
    """Run the suites of `exercises` against `impl` on `seeds`; (failures, tests run)."""
    _setup()
    from gpt2lab import catalog, check

    package, root = IMPLEMENTATIONS[impl]
    ids = [i for i in exercises if (root / package / f"{catalog.BY_ID[i].module}.py").exists()]
    failures, count = [], 0
    for seed in seeds:
        _forget_references()
        results = check.run([catalog.find(i) for i in ids], impl=package, impl_root=root, seed=seed,
                            device="cpu", plugins=[SeedIndependentOnce(seed == first)])
        count += sum(len(r.graded) for r in results)
        failures += _failures(results, seed=seed, impl=impl)
    return failures, count


def mutants(ids: list[str], seeds: list[int]) -> tuple[list[dict], int]:
    """Each classic mistake on each seed: it must fail, named first when it has a name."""
    _setup()
    from gpt2lab import catalog, check
    from tests.project.conftest import make_package
    from tests.project.mutants import all_mutants, problem_with

    chosen = [m for m in all_mutants() if m.id in ids]
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        packages = {m.id: make_package(Path(tmp), ROOT / "solutions", {m.module: list(m.edits)}) for m in chosen}
        for seed in seeds:
            _forget_references()
            for m in chosen:
                result = check.run([catalog.find(m.exercise)], impl=packages[m.id], impl_root=Path(tmp),
                                   seed=seed, device="cpu")[0]
                problem = problem_with(m, result)
                if problem:
                    problems.append({"seed": seed, "impl": "mutant", "exercise": m.exercise, "test": m.id,
                                     "case": "", "diagnosis": None, "message": "\n" + problem})
    return problems, len(chosen) * len(seeds)


def load() -> str:
    done = subprocess.run(["uptime"], capture_output=True, text=True)
    return done.stdout.strip().partition("load average:")[2].strip() or "?"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=200, help="how many consecutive seeds (default 200)")
    parser.add_argument("--start", type=int, default=0, help="the first seed (default 0)")
    parser.add_argument("--impl", nargs="+", choices=sorted(IMPLEMENTATIONS), default=list(IMPLEMENTATIONS))
    parser.add_argument("--exercises", nargs="+", default=None, help="e.g. e10 (default: all)")
    parser.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    parser.add_argument("--chunk", type=int, default=10, help="seeds per task (default 10)")
    parser.add_argument("--mutant-seeds", type=int, default=0, help="run every mutant on seeds 1..N")
    parser.add_argument("--json", type=Path, help="also write the failures and figures to this file")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(ROOT))
    from gpt2lab import catalog
    from tests.project.mutants import all_mutants

    exercises = args.exercises or [e.id for e in catalog.EXERCISES]
    seeds = list(range(args.start, args.start + args.seeds))
    tasks = [(sweep, (impl, exercises, seeds[i:i + args.chunk], args.start))
             for impl in args.impl for i in range(0, len(seeds), args.chunk)]
    ids = [m.id for m in all_mutants() if m.exercise in exercises]
    tasks += [(mutants, (ids[i:i + 8], list(range(1, args.mutant_seeds + 1))))
              for i in range(0, len(ids) if args.mutant_seeds else 0, 8)]
    before, start = load(), time.perf_counter()
    failures, runs = [], {"suite tests": 0, "mutant runs": 0}
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(args.workers, mp_context=context) as pool:
        futures = {pool.submit(function, *task): function for function, task in tasks}
        for future in concurrent.futures.as_completed(futures):
            found, count = future.result()
            runs["suite tests" if futures[future] is sweep else "mutant runs"] += count
            for f in found:
                lines = " | ".join(f["message"].splitlines()[1:4])
                print(f"FAIL seed {f['seed']} {f['impl']} {f['exercise']} {f['test']}[{f['case']}] "
                      f"{f['diagnosis'] or ''}: {lines[:400]}", flush=True)
            failures += found
    seconds = time.perf_counter() - start
    figures = {"seeds": f"{seeds[0]}-{seeds[-1]}" if seeds else "none", "implementations": args.impl,
               "exercises": exercises, "mutant seeds": args.mutant_seeds, **runs, "failures": len(failures),
               "seconds": round(seconds), "workers": args.workers, "load before": before, "load after": load(),
               "cpus": os.cpu_count()}
    print(json.dumps(figures, indent=1))
    if args.json:
        args.json.write_text(json.dumps({"figures": figures, "failures": failures}, indent=1))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
