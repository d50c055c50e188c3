"""`python -m gpt2lab COMMAND`: what the nox sessions call."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from gpt2lab import catalog, i18n
from gpt2lab.demo import add_arguments as demo_arguments
from gpt2lab.i18n import N_, _
from gpt2lab.train import add_arguments as train_arguments


# argparse's own words (it translates them with gettext's `_`, which has no Spanish here): the
# ones a learner meets in `--help` and in a mistyped command
ARGPARSE = (N_("usage: "), N_("positional arguments"), N_("options"), N_("show this help message and exit"),
            N_("%(prog)s: error: %(message)s\n"), N_("the following arguments are required: %s"),
            N_("unrecognized arguments: %s"), N_("argument %(argument_name)s: %(message)s"),
            N_("invalid choice: %(value)r (choose from %(choices)s)"), N_("invalid %(type)s value: %(value)r"),
            N_("expected one argument"), N_("ambiguous option: %(option)s could match %(matches)s"))


def _translate_argparse() -> None:
    """argparse speaks the learner's language too: its `_` becomes the catalogue's (English unchanged)."""
    argparse._ = i18n.translate


def _exercises(names: list[str]) -> list[catalog.Exercise]:
    if not names:
        return list(catalog.EXERCISES)
    try:
        return [catalog.find(name) for name in names]
    except KeyError as error:
        raise SystemExit(f"gpt2lab: {error.args[0]}") from None


def check(args: argparse.Namespace) -> int:
    exercises = _exercises(args.exercises)
    root = Path(args.root).resolve()
    if not (root / args.impl).is_dir():
        print("gpt2lab: " + _("there is no {impl}/ folder in {root}; run from the repository root or pass "
                              "--root").format(impl=args.impl, root=root), file=sys.stderr)
        return 2
    # the first line at once, before torch and the suites are imported (a few seconds)
    print(_("GPT-2 kata — checking {folder}/ ...").format(folder=f"{root.name}/{args.impl}"), flush=True)
    from gpt2lab import check as runner
    from gpt2lab.report import render

    try:
        results = runner.run(exercises, impl=args.impl, impl_root=root, suites=Path(args.suites).resolve(),
                             device=args.device, seed=args.seed, workers=args.workers,
                             time_limit=args.time_limit or None)
    except RuntimeError as error:
        print(f"gpt2lab: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\n" + _("Stopped."), file=sys.stderr)
        return 130
    from gpt2lab import builtin_rules  # the teacher's rules on built-ins: a refused exercise fails, explained

    builtin_rules.mark(results, root, args.impl)
    import torch

    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    header = _("Checked on {device} (torch {version}):").format(device=device, version=torch.__version__)
    print(render(results, header=header, verbose=args.verbose, named=bool(args.exercises)))
    _warn_integrity(root / args.impl, exercises)
    if args.json:
        Path(args.json).write_text(json.dumps(
            {r.exercise.id: {"status": r.status, "passed": r.passed, "cases": len(r.graded),
                             "verdicts": r.verdicts} for r in results}, indent=1))
    return 0 if runner.course_passes(results, named=bool(args.exercises)) else 1


def _warn_integrity(package: Path, exercises: list[catalog.Exercise]) -> None:
    """Say now what the grader would refuse (an import of transformers, ...), not after grading."""
    from gpt2lab import integrity

    for exercise in exercises:
        found = integrity.scan(package, exercise.module)
        if found:
            print("\n" + _("Warning: the grader gives {id} zero points as it is, whatever this check says:")
                  .format(id=exercise.id))
            print("\n".join(f"  {violation}" for violation in found))


def _default_root() -> Path:
    """The repository being worked on: the current directory when it holds exercises/."""
    cwd = Path.cwd()
    return cwd if (cwd / "exercises").is_dir() and (cwd / "tests" / "katas").is_dir() else catalog.ROOT


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:  # also NaN
        raise argparse.ArgumentTypeError(_("{text} is not a number of seconds (0 or more; 0: no limit)")
                                         .format(text=repr(text)))
    return value


def _time_limit_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--time-limit", type=_seconds, default=catalog.TIME_LIMIT, metavar=_("SECONDS"),
                   help=_("stop a test that runs longer than this: a loop that never ends (default {limit}; "
                          "0: no limit)").format(limit=f"{catalog.TIME_LIMIT:g}"))


def _lang_argument(p: argparse.ArgumentParser, what: str | None = None) -> None:
    p.add_argument("--lang", choices=i18n.LANGUAGES, help=what or _(
        "the language of what it prints: en or es (default: GPT2LAB_LANG, else the locale: LC_ALL, "
        "LC_MESSAGES, LANG; else en)"))


def requested_language(argv: list[str]) -> str | None:
    """The `--lang` of a command line, read before the parser is built (its help is translated)."""
    for i, arg in enumerate(argv):
        if arg == "--":
            break
        value = argv[i + 1] if arg == "--lang" and i + 1 < len(argv) else arg.partition("=")[2] \
            if arg.startswith("--lang=") else None
        if value in i18n.LANGUAGES:
            return value
    return None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    i18n.set_language(requested_language(argv))  # before anything is printed, the help included
    _translate_argparse()
    ROOT = _default_root()
    parser = argparse.ArgumentParser(prog="gpt2lab", description=_("The GPT-2 kata."))
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("check", help=_("run the hidden suites and show your progress"))
    p.add_argument("exercises", nargs="*", help=_("e.g. e04 (default: all, in course order)"))
    p.add_argument("-v", "--verbose", action="store_true", help=_("show every case"))
    p.add_argument("--impl", default="exercises", help=_("package to check (solutions: the reference)"))
    p.add_argument("--root", default=str(ROOT), help=_("directory that contains the package"))
    p.add_argument("--suites", default=str(ROOT / "tests" / "katas"), help=_("directory of the hidden suites"))
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--seed", type=int, default=0, help=_("base seed of the generated cases"))
    p.add_argument("-n", "--workers", type=int, default=0, help=_("pytest-xdist workers (0: none)"))
    p.add_argument("--json", help=_("also write the verdicts to this file"))
    _time_limit_argument(p)
    _lang_argument(p)
    p.set_defaults(run=check)

    p = commands.add_parser("hint", help=_("the next hint of an exercise, one step at a time"))
    p.add_argument("exercise", nargs="?", help=_("e.g. e04"))
    _lang_argument(p)
    p.add_argument("--all", dest="show_all", action="store_true", help=_("every hint of the exercise"))
    p.add_argument("--reset", action="store_true", help=_("start the hints over (all exercises if none named)"))
    p.add_argument("--root", default=str(ROOT), help=_("repository whose .gpt2lab/hints.json keeps your place"))
    p.set_defaults(run=hint)

    p = commands.add_parser("watch", help=_("check again every time you save a file in exercises/"))
    p.add_argument("exercises", nargs="*", help=_("restrict the course to these (default: all)"))
    p.add_argument("--impl", default="exercises", help=_("package to watch"))
    p.add_argument("--root", default=str(ROOT), help=_("directory that contains the package"))
    p.add_argument("--suites", default=str(ROOT / "tests" / "katas"), help=_("directory of the hidden suites"))
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--seed", type=int, default=0, help=_("base seed of the generated cases"))
    p.add_argument("--once", action="store_true", help=_("check once and stop"))
    p.add_argument("--max-runs", type=int, help=_("stop after this many checks"))
    p.add_argument("--timeout", type=float, help=_("stop after this many seconds"))
    p.add_argument("--interval", type=float, default=0.1, help=_("seconds between looks at the files"))
    _time_limit_argument(p)
    _lang_argument(p)
    p.set_defaults(run=watch)

    p = commands.add_parser("env", help=_("exercise zero: Python, torch, GPU, and the offline reference"))
    _lang_argument(p)
    p.set_defaults(run=env)

    p = commands.add_parser("grade", help="grade a submission, or a class, with this repository's suites "
                            "(grades.json, gradebook.csv)")
    p.add_argument("exercises", nargs="*", help="e.g. e04 (default: all); before --class")
    p.add_argument("--submission", default=str(ROOT),
                   help="root of the repository to grade: only its exercises/*.py are read (default: this one)")
    p.add_argument("--class", dest="class_paths", nargs="+", metavar="PATH",
                   help="grade a class: a directory of student folders (as `gh classroom clone student-repos` "
                        "makes them), submission folders, GitHub Classroom's grades CSV, or a file listing "
                        "folders; writes OUT/gradebook.csv, OUT/gradebook.json and OUT/<folder>/grades.json")
    p.add_argument("--regrade", action="store_true",
                   help="with --class: grade every submission again, even those whose files did not change")
    p.add_argument("--out", help="where to write grades.json (default: SUBMISSION/grades.json); with --class, "
                                 "the directory of the grades (default: NAME-grades next to the class directory)")
    p.add_argument("--kata-seed", type=int, help="base seed of the cases (default: drawn now, and recorded)")
    p.add_argument("--timeout", type=float, help="seconds per exercise (default: grading.toml)")
    p.add_argument("--memory", type=int, help="MiB per exercise (default: grading.toml)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("-j", "--jobs", type=int, help="judge processes at once: each with its share of the exercises, "
                                                   "or with a class, each a submission (default: the CPU cores)")
    p.add_argument("--no-sandbox", action="store_true",
                   help="run the submission's code without bubblewrap (macOS, some containers): it then runs "
                        "as you, with your files; grades.json records \"sandbox\": false")
    p.add_argument("--config", help="the grading.toml to use (default: this repository's)")
    _lang_argument(p, "the language of the explanations for students in grades.json: en or es (default: "
                      "GPT2LAB_LANG, else the locale, else en)")
    p.set_defaults(run=grade)

    p = commands.add_parser("student", help="build the repository handed to students (no solutions, one commit)")
    p.add_argument("outdir", help="a new directory")
    p.set_defaults(run=student)

    p = commands.add_parser("gradescope", help="build a Gradescope autograder bundle (a zip to upload)")
    p.add_argument("outzip", metavar="OUT.zip", help="the zip to write")
    p.add_argument("exercises", nargs="*", help="the exercises it grades, e.g. e01 e02 e03 (default: all)")
    p.add_argument("--no-sandbox", action="store_true",
                   help="grade without bubblewrap, where Gradescope's container cannot run it (the "
                        "container is then the only isolation; results.json says so)")
    _lang_argument(p, "the language of the explanations students read in Gradescope: en or es (default: "
                      "GPT2LAB_LANG, else the locale, else en)")
    p.set_defaults(run=gradescope)

    p = commands.add_parser("publish", help="set the GitHub repository the kata is published in "
                            "(Colab badges, the notebook's REPO_URL, pyproject.toml)")
    p.add_argument("url", help="https://github.com/OWNER/NAME")
    p.add_argument("--root", default=str(ROOT), help="the kata to change (default: this repository)")
    p.set_defaults(run=publish)

    p = commands.add_parser("classroom", help="write .github/workflows/classroom.yml (catalogue + grading.toml)")
    p.add_argument("--check", action="store_true", help="only say whether the file is up to date")
    p.set_defaults(run=classroom)

    p = commands.add_parser("train", help=_("train your GPT-2 on a text file and watch the loss fall (e10)"))
    train_arguments(p, ROOT)
    _lang_argument(p)
    p.set_defaults(run=train)

    p = commands.add_parser("demo", help=_("your GPT-2 continues a prompt, with OpenAI's weights (e05-e07)"))
    demo_arguments(p, ROOT)
    _lang_argument(p)
    p.set_defaults(run=demo)

    args = parser.parse_args(argv)
    i18n.set_language(getattr(args, "lang", None))  # GPT2LAB_LANG: pytest, the judges and workers follow
    return args.run(args)


def hint(args: argparse.Namespace) -> int:
    from gpt2lab import hints

    return hints.main(args.exercise, lang=args.lang, show_all=args.show_all, reset=args.reset,
                      root=Path(args.root).resolve())


def watch(args: argparse.Namespace) -> int:
    from gpt2lab import watch as watcher

    return watcher.main(_exercises(args.exercises), impl=args.impl, root=Path(args.root).resolve(),
                        suites=Path(args.suites).resolve(), device=args.device, seed=args.seed,
                        once=args.once, max_runs=args.max_runs, timeout=args.timeout,
                        interval=args.interval, time_limit=args.time_limit or None,
                        named=bool(args.exercises))


def env(args: argparse.Namespace) -> int:
    from gpt2lab import env as environment

    return environment.main()


def grade(args: argparse.Namespace) -> int:
    from gpt2lab.teacher import grades as document
    from gpt2lab.teacher.grade import SandboxMissing
    from gpt2lab.teacher.grade import grade as grade_submission

    exercises = _exercises(args.exercises)
    if args.class_paths:
        return grade_class(args, exercises)
    if args.regrade:
        print("gpt2lab: --regrade goes with --class", file=sys.stderr)
        return 2
    submission = Path(args.submission).resolve()
    out = Path(args.out) if args.out else submission / "grades.json"
    try:
        config = document.Config.load(Path(args.config)) if args.config else document.Config.load()
        print(f"gpt2lab: grading {submission} with the suites of {document.ROOT} ...", flush=True)
        grades = grade_submission(submission, exercises, seed=args.kata_seed, config=config, timeout=args.timeout,
                                  memory=args.memory, device=args.device, use_sandbox=not args.no_sandbox,
                                  jobs=args.jobs)
    except (FileNotFoundError, ValueError, SandboxMissing) as error:
        print(f"gpt2lab: {error}", file=sys.stderr)
        return 2
    out.write_text(json.dumps(grades, indent=1) + "\n")
    print(document.summary(grades))
    problem = next((e for e in grades["exercises"] if e["status"] != "passed"), None)
    if problem:
        print(f"\n{problem['id']} ({problem['status']}): {problem['explanation']}")
    print(f"\ngrades.json: {out}")
    return 0 if all(e["status"] == "passed" for e in grades["exercises"]) else 1


def grade_class(args: argparse.Namespace, exercises: list[catalog.Exercise]) -> int:
    from gpt2lab.teacher import classroom_grading, gradebook
    from gpt2lab.teacher import grades as document
    from gpt2lab.teacher.grade import SandboxMissing

    paths = [Path(p) for p in args.class_paths]
    try:
        config = document.Config.load(Path(args.config)) if args.config else document.Config.load()
        out = Path(args.out).resolve() if args.out else gradebook.default_out(paths)
        students = gradebook.roster(paths, skip=out)
        if not students:
            raise ValueError(f"no submission in {', '.join(map(str, paths))}")
        print(f"gpt2lab: grading {len(students)} submissions with the suites of {document.ROOT}; "
              f"grades in {out}", flush=True)
        book = classroom_grading.grade_class(students, out, exercises, seed=args.kata_seed, regrade=args.regrade,
                                             config=config, timeout=args.timeout, memory=args.memory,
                                             device=args.device, use_sandbox=not args.no_sandbox, jobs=args.jobs)
    except (FileNotFoundError, ValueError, SandboxMissing) as error:
        print(f"gpt2lab: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ngpt2lab: stopped. What was graded is kept: run the same command again to go on.", file=sys.stderr)
        return 130
    print(gradebook.summary(book))
    print(f"\ngradebook: {out / gradebook.CSV_NAME} and {gradebook.JSON_NAME}; each student's grades.json in "
          f"{out}/<folder>/")
    return 1 if any(r["graded"] == "crashed" for r in book["students"]) else 0


def student(args: argparse.Namespace) -> int:
    from gpt2lab.teacher import student as builder

    try:
        out = builder.build(Path(args.outdir))
    except (FileExistsError, ValueError, RuntimeError) as error:
        print(f"gpt2lab: {error}", file=sys.stderr)
        return 2
    print(f"gpt2lab: the student repository is in {out} (one commit, no solutions/). Push it as the "
          "starter (template) repository of your GitHub Classroom assignment.")
    return 0


def gradescope(args: argparse.Namespace) -> int:
    from gpt2lab.teacher import gradescope as bundle

    exercises = _exercises(args.exercises) if args.exercises else None
    try:
        out = bundle.build(Path(args.outzip), exercises, use_sandbox=not args.no_sandbox, lang=args.lang)
    except (FileExistsError, ValueError, RuntimeError) as error:
        print(f"gpt2lab: {error}", file=sys.stderr)
        return 2
    graded = ", ".join(e.id for e in exercises) if exercises else "every exercise"
    print(f"gpt2lab: the Gradescope autograder is in {out} ({out.stat().st_size / 1e6:.1f} MB; it grades {graded}"
          f"{'' if args.no_sandbox else ', sandboxed'}{f', explains in {args.lang}' if args.lang else ''}). Upload it as the assignment's autograder (Configure "
          "Autograder, zip file upload) on an Ubuntu 22.04 or later base image.")
    return 0


def publish(args: argparse.Namespace) -> int:
    from gpt2lab import publish as publisher

    root = Path(args.root)
    try:
        changed = publisher.publish(args.url, root=root)
    except (ValueError, OSError) as error:
        print(f"gpt2lab: {error}", file=sys.stderr)
        return 2
    url = publisher.repository(args.url)
    names = ", ".join(str(p.relative_to(root)) for p in changed) or "nothing: it was already set"
    print(f"gpt2lab: the kata now points at {url}; changed {names}.\n"
          f"The badges open {publisher.badge_target(url)} once it is pushed there.")
    return 0


def classroom(args: argparse.Namespace) -> int:
    from gpt2lab.teacher import classroom as workflow

    text = workflow.classroom_workflow()
    current = workflow.WORKFLOW.read_text() if workflow.WORKFLOW.exists() else None
    if args.check:
        if current != text:
            print(f"gpt2lab: {workflow.WORKFLOW} is not up to date: run `nox -s classroom`", file=sys.stderr)
            return 1
        print(f"gpt2lab: {workflow.WORKFLOW} is up to date")
        return 0
    workflow.WORKFLOW.parent.mkdir(parents=True, exist_ok=True)
    workflow.WORKFLOW.write_text(text)
    print(f"gpt2lab: wrote {workflow.WORKFLOW} ({len(workflow.Config.load().points)} graded exercises)")
    return 0


def train(args: argparse.Namespace) -> int:
    from gpt2lab import train as trainer

    return trainer.main(args)


def demo(args: argparse.Namespace) -> int:
    from gpt2lab import demo as writer

    return writer.main(args)
