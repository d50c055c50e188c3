"""`python -m gpt2lab COMMAND`: what the nox sessions call."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from gpt2lab import catalog


def _exercises(names: list[str]) -> list[catalog.Exercise]:
    if not names:
        return list(catalog.EXERCISES)
    try:
        return [catalog.find(name) for name in names]
    except KeyError as error:
        raise SystemExit(f"gpt2lab: {error.args[0]}") from None


def check(args: argparse.Namespace) -> int:
    from gpt2lab import check as runner
    from gpt2lab.report import render

    exercises = _exercises(args.exercises)
    root = Path(args.root).resolve()
    try:
        results = runner.run(exercises, impl=args.impl, impl_root=root, suites=Path(args.suites).resolve(),
                             device=args.device, seed=args.seed, workers=args.workers)
    except RuntimeError as error:
        print(f"gpt2lab: {error}", file=sys.stderr)
        return 2
    import torch

    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    header = f"GPT-2 kata — checking {root.name}/{args.impl}/ on {device} (torch {torch.__version__})"
    print(render(results, header=header, verbose=args.verbose))
    if args.json:
        Path(args.json).write_text(json.dumps(
            {r.exercise.id: {"status": r.status, "passed": r.passed, "cases": len(r.graded),
                             "verdicts": r.verdicts} for r in results}, indent=1))
    return 0 if all(r.status == runner.PASSED for r in results) else 1


def main(argv: list[str] | None = None) -> int:
    from gpt2lab.check import ROOT

    parser = argparse.ArgumentParser(prog="gpt2lab", description="The GPT-2 kata.")
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("check", help="run the hidden suites and show your progress")
    p.add_argument("exercises", nargs="*", help="e.g. e04 (default: all, in course order)")
    p.add_argument("-v", "--verbose", action="store_true", help="show every case")
    p.add_argument("--impl", default="exercises", help="package to check (solutions: the reference)")
    p.add_argument("--root", default=str(ROOT), help="directory that contains the package")
    p.add_argument("--suites", default=str(ROOT / "tests" / "katas"), help="directory of the hidden suites")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--seed", type=int, default=0, help="base seed of the generated cases")
    p.add_argument("-n", "--workers", type=int, default=0, help="pytest-xdist workers (0: none)")
    p.add_argument("--json", help="also write the verdicts to this file")
    p.set_defaults(run=check)

    args = parser.parse_args(argv)
    return args.run(args)
