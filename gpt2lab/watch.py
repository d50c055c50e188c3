"""Watch mode (`nox -s watch`): check the current exercise again every time a file is saved.

One long-lived process keeps torch, transformers, the hidden suites and the reference modules
warm; on a save it forgets only the learner's modules (`exercises.*` in sys.modules, and the
bytecode of the saved files) and runs gpt2lab.check.run() in this process, so the verdict comes
a fraction of a second after the save instead of the ~4 s a cold `nox -s check` spends importing.

What is checked after a save, in two steps: first the exercise whose file was saved and the
current exercise (the first one not passing), whose verdict is shown at once; then the exercises
built on the saved one that had been started (saving e01 when e02-e10 are done takes ~2 s to
check them all again), and the table is shown again. Until they are checked again, their earlier
results are shown as "out of date", never as a current verdict: they were computed against the
older file. When the current exercise passes, the next one is checked at once, like rustlings.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from gpt2lab import builtin_rules, catalog, check
from gpt2lab.i18n import _
from gpt2lab.report import Style, render

Snapshot = dict[Path, tuple[int, int]]  # file -> (mtime in ns, size)


def snapshot(folder: Path) -> Snapshot:
    files = {}
    for path in folder.glob("*.py"):
        try:
            stat = path.stat()
        except FileNotFoundError:  # deleted between glob and stat (editors save through renames)
            continue
        files[path] = (stat.st_mtime_ns, stat.st_size)
    return files


def forget(package: str, changed: list[Path]) -> None:
    """Drop the learner's modules so the next check imports what is on disk now.

    The bytecode of a saved file is removed too: Python trusts a .pyc whose recorded mtime (whole
    seconds) and size match the source, so two saves of equal size within one second would
    otherwise run the older code.
    """
    for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
        del sys.modules[name]
    for path in changed:
        Path(importlib.util.cache_from_source(str(path))).unlink(missing_ok=True)
    importlib.invalidate_caches()


def dependents(changed: set[str], course: list[catalog.Exercise]) -> set[str]:
    """Exercises of the course that build on a changed one, directly or not."""
    found = set(changed)
    for exercise in course:  # course order: what an exercise requires comes before it
        if found.intersection(exercise.requires):
            found.add(exercise.id)
    return found - changed


class Watcher:
    def __init__(self, course: list[catalog.Exercise], *, impl: str = "exercises",
                 root: Path = check.ROOT, suites: Path = check.ROOT / "tests" / "katas",
                 device: str = "auto", seed: int = 0, interval: float = 0.1,
                 out: TextIO = sys.stdout, clear: bool | None = None,
                 clock: Callable[[], float] = time.monotonic, time_limit: float | None = None,
                 named: bool = False):
        self.course, self.impl, self.root, self.suites = course, impl, root, suites
        self.device, self.seed, self.interval, self.out = device, seed, interval, out
        self.time_limit, self.named = time_limit, named  # named: the course was named on the command line
        self.folder = root / impl
        self.clear = out.isatty() if clear is None else clear
        self.clock = clock
        self.results: dict[str, check.ExerciseResult] = {}
        self.modules = {"__init__"}  # the learner's modules imported by the checks (see imported)
        self.runs = 0

    # -- checking ---------------------------------------------------------------------------

    def current(self) -> catalog.Exercise | None:
        """The first exercise of the course that does not pass, or whose result is out of date."""
        for exercise in self.course:
            result = self.results.get(exercise.id)
            if result is None or result.outdated_by or result.status not in (check.PASSED, check.MISSING):
                return exercise
        return None

    def check(self, ids: set[str]) -> None:
        exercises = [e for e in self.course if e.id in ids]
        results = check.run(exercises, impl=self.impl, impl_root=self.root, suites=self.suites,
                            device=self.device, seed=self.seed, time_limit=self.time_limit)
        builtin_rules.mark(results, self.root, self.impl)  # the teacher's rules on built-ins
        for result in results:
            self.results[result.exercise.id] = result  # a new result: not out of date
        self.imported()  # before the next save forgets them
        self.runs += 1
        # blocked-by follows the latest status of everything known, not only what was just checked
        check.link_blocked([self.results[e.id] for e in self.course if e.id in self.results])

    def imported(self) -> set[str]:
        """The learner's modules any check has imported so far, by file name ("__init__": the package)."""
        prefix = self.impl + "."
        self.modules |= {name[len(prefix):] for name in sys.modules if name.startswith(prefix)}
        return self.modules

    def after_save(self, changed: list[Path], imported: set[str] | None = None) -> tuple[set[str], set[str]]:
        """Which exercises to check after these files were saved: first (the verdict the learner
        waits for) the saved exercises and the current one; then those built on them whose result
        depends on them: started, or not started only because a saved one was not written.

        `imported`: the learner's modules imported before the save (default: now)."""
        modules = {path.stem for path in changed}
        saved = {e.id for e in self.course if e.module in modules}
        helpers = modules - {e.module for e in catalog.EXERCISES}
        if helpers & (self.imported() if imported is None else imported):
            # a file that is no exercise but was imported (a helper, __init__.py): any may use it
            built_on = {e.id for e in self.course} - saved
        else:
            built_on = dependents(saved, self.course)
        started = {i for i in built_on if i in self.results and
                   (self.results[i].status != check.NOT_STARTED or self.results[i].waiting_on)}
        current = self.current()
        first = saved | ({current.id} if current else set())
        return first, started - first

    def mark_outdated(self, ids: set[str], changed: list[Path]) -> None:
        """Until they are checked again, the results of `ids` are shown as out of date."""
        modules = {path.stem for path in changed}
        names = tuple(e.id for e in self.course if e.module in modules) or tuple(sorted(p.name for p in changed))
        for exercise_id in ids:
            if exercise_id in self.results:
                self.results[exercise_id].outdated_by = names

    def check_and_advance(self, ids: set[str], *, skip: set[str] = frozenset()) -> set[str]:
        """Check `ids`; while the current exercise then passes, check the next one too, unless it
        is one of `skip` (just checked, or checked next anyway). Returns every exercise checked."""
        self.check(ids)
        checked = set(ids)
        while (current := self.current()) is not None and current.id not in checked | skip:
            self.check({current.id})
            checked.add(current.id)
        return checked

    # -- showing ----------------------------------------------------------------------------

    def show(self, note: str, *, next_step: str = "") -> None:
        """The table; its last line says what comes next: `next_step`, or watching for a save."""
        import torch

        device = self.device if self.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
        results = [self.results[e.id] for e in self.course if e.id in self.results]
        header = _("GPT-2 kata — watching {folder}/ on {device} — run {run}").format(
            folder=f"{self.root.name}/{self.impl}", device=device, run=self.runs) + (f" — {note}" if note else "")
        text = render(results, header=header, style=Style(colour=self.clear), named=self.named)
        if self.clear:
            self.out.write("\033[2J\033[H")
        last = next_step or _("Watching {folder}/: save a file to check again (Ctrl-C stops).").format(folder=self.impl)
        self.out.write(f"{text}\n\n{last}\n")
        self.out.flush()

    # -- the loop ---------------------------------------------------------------------------

    def wait_for_save(self, before: Snapshot, deadline: float | None) -> tuple[Snapshot, list[Path]] | None:
        """Poll until a file changes and settles; None when the deadline passes first."""
        while deadline is None or self.clock() < deadline:
            time.sleep(self.interval)
            now = snapshot(self.folder)
            if now != before:
                time.sleep(min(self.interval, 0.05))  # let a save made in several writes finish
                settled = snapshot(self.folder)
                changed = [p for p in settled.keys() | before.keys() if settled.get(p) != before.get(p)]
                return settled, sorted(changed)
        return None

    def run(self, *, max_runs: int | None = None, timeout: float | None = None) -> int:
        """Check everything once, then after every save; stop after max_runs checks or timeout s."""
        deadline = None if timeout is None else self.clock() + timeout
        files = snapshot(self.folder)
        forget(self.impl, [])  # the first check reads what is on disk, whatever was imported before
        started = self.clock()
        self.check_and_advance({e.id for e in self.course})
        self.show(_("everything checked in {seconds:.2f} s").format(seconds=self.clock() - started))
        while max_runs is None or self.runs < max_runs:
            saved = self.wait_for_save(files, deadline)
            if saved is None:
                break
            files, changed = saved
            self.on_save(changed, max((files[p][0] for p in changed if p in files), default=None))
        results = [self.results[e.id] for e in self.course if e.id in self.results]
        return 0 if check.course_passes(results, self.named) else 1

    def on_save(self, changed: list[Path], saved_ns: int | None) -> None:
        """Check again after a save (saved_ns: its mtime; None when files were only deleted)."""
        imported = self.imported()
        forget(self.impl, changed)
        first, then = self.after_save(changed, imported)
        self.mark_outdated(then, changed)  # shown as out of date until step two checks them
        names = ", ".join(p.name for p in changed)
        if not first:
            self.show(_("{files} saved; nothing to check").format(files=names))
            return
        checked = self.check_and_advance(first, skip=then)
        verdict = (_("{files} saved, verdict {seconds:.2f} s after the save").format(
                       files=names, seconds=time.time() - saved_ns / 1e9) if saved_ns else
                   _("{files} saved, verdict after a deletion").format(files=names))
        if not then:
            self.show(verdict)
            return
        built_on = ", ".join(e.id for e in self.course if e.id in then)
        self.show(verdict, next_step=_("Checking {ids} again, built on what you saved...").format(ids=built_on))
        started = self.clock()
        self.check_and_advance(then, skip=checked)
        self.show(_("{verdict}; {ids} checked again in {seconds:.2f} s").format(
            verdict=verdict, ids=built_on, seconds=self.clock() - started))


def main(course: list[catalog.Exercise], *, impl: str, root: Path, suites: Path, device: str,
         seed: int, once: bool, max_runs: int | None, timeout: float | None, interval: float,
         time_limit: float | None = None, named: bool = False) -> int:
    if not (root / impl).is_dir():
        print("gpt2lab: " + _("there is no {folder}/ folder in {root}; run from the repository root or pass "
                             "--root").format(folder=impl, root=root), file=sys.stderr)
        return 2
    watcher = Watcher(course, impl=impl, root=root, suites=suites, device=device, seed=seed,
                      interval=interval, time_limit=time_limit, named=named)
    try:
        return watcher.run(max_runs=1 if once else max_runs, timeout=timeout)
    except KeyboardInterrupt:
        print("\n" + _("Stopped watching."))
        return 0
    except RuntimeError as error:  # the hidden suites themselves could not run
        print(f"gpt2lab: {error}", file=sys.stderr)
        return 2
