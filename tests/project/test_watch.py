"""Watch mode (`nox -s watch`): a save in exercises/ brings a new verdict, fast, from a warm process."""

import io
import os
import queue
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

from gpt2lab import catalog, check
from gpt2lab.check import ROOT
from gpt2lab.watch import Watcher, dependents, forget, snapshot
from tests.project.conftest import make_package
from tests.project.mutants import all_mutants
from tests.project.test_verdict import english_left

SPLIT = "return x.transpose(1, 2)  # (B, nh, T, hs)"


class Lines:
    """The watcher's output, line by line, each with the time it arrived."""

    def __init__(self, stream):
        self.queue: queue.Queue = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream):
        for line in stream:
            self.queue.put((time.monotonic(), line.rstrip("\n")))
        self.queue.put((time.monotonic(), None))

    def until(self, pattern: str, timeout: float) -> tuple[float, str]:
        """Wait for a line matching pattern; return its arrival time and everything read since the last call."""
        start = len(self.seen)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                arrived, line = self.queue.get(timeout=deadline - time.monotonic())
            except queue.Empty:
                break
            if line is None:
                break
            self.seen.append(line)
            if re.search(pattern, line):
                return arrived, "\n".join(self.seen[start:])
        raise AssertionError(f"no line matching {pattern!r}; output so far:\n" + "\n".join(self.seen))


def watcher_environment() -> dict[str, str]:
    """For a watcher started by a test: one torch thread. With pytest-xdist's other worker and other
    processes on the same cores, torch's threads waiting on each other (OpenMP spins) would make
    the latency measure the machine's load, not the watcher (seen: 4 to 17 s for the same verdict)."""
    return dict(os.environ, PYTHONPATH=str(ROOT), PYTHONIOENCODING="utf-8", OMP_NUM_THREADS="1")


def allowed(seconds: float = 3.0) -> float:
    """A latency bound with room for CI (3 s for a 1 s target), stretched on a machine busier than
    its cores (load average 6 on 2 cores: 9 s), where every process waits its turn. The busier of
    the last 1 and 5 minutes counts: the load average lags behind a burst."""
    load = max(os.getloadavg()[:2]) if hasattr(os, "getloadavg") else 0.0
    return seconds * max(1.0, load / (os.cpu_count() or 1))


def test_a_save_brings_a_new_verdict_within_a_second(tmp_path):
    package = make_package(tmp_path, ROOT / "solutions", {"e03_heads": [(SPLIT, "return x  # (B, nh, T, hs)")]})
    target = tmp_path / package / "e03_heads.py"
    environ = watcher_environment()
    environ.pop("PYTHONDONTWRITEBYTECODE", None)  # a learner's Python writes .pyc files: so must this one
    watcher = subprocess.Popen(
        [sys.executable, "-m", "gpt2lab", "watch", "e01", "e03", "--impl", package, "--root", str(tmp_path),
         "--device", "cpu", "--max-runs", "3", "--timeout", "150", "--interval", "0.05"],
        cwd=ROOT, env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = Lines(watcher.stdout)
    try:
        _, first = lines.until(r"^Watching ", timeout=120)  # cold start: torch, pytest, both suites
        assert re.search(r"✔ e01 .* passed \(15 cases\)", first) and re.search(r"✘ e03 .* failing", first), first
        assert "move it with transpose(1, 2)" in first

        # save the fix: the verdict must follow
        target.write_text((ROOT / "solutions" / "e03_heads.py").read_text())
        saved = time.monotonic()
        mtime = target.stat().st_mtime_ns
        arrived, second = lines.until(r"^Watching ", timeout=30)
        latency = arrived - saved
        assert re.search(r"✔ e03 .* passed \(\d+ cases\)", second), second
        reported = float(re.search(r"verdict (\d+\.\d+) s after the save", second).group(1))

        # a second save of the same size within the same second: stale bytecode must not be used
        broken = target.read_text().replace(SPLIT, "return x.transpose(1, 3)  # (B, nh, T, hs)")
        assert len(broken) == len(target.read_text())
        target.write_text(broken)
        os.utime(target, ns=(mtime + 1000, mtime + 1000))
        _, third = lines.until(r"^Watching ", timeout=30)
        assert re.search(r"✘ e03 .* failing", third) and "got (2, 64, 12, 5)" in third, third

        assert watcher.wait(timeout=30) == 1  # --max-runs 3 reached; e03 does not pass
    finally:
        watcher.kill()
        watcher.wait()
    print(f"\nwatch mode: verdict {latency:.2f} s after the save (measured by the test), "
          f"{reported:.2f} s (reported by the watcher)")
    assert latency < allowed(), f"the verdict came {latency:.2f} s after the save (target: under 1 s)"


def test_the_full_size_model_is_answered_within_a_second_too(tmp_path):
    """e06 builds your whole GPT-2 124M: random initialisation skipped, the reference kept warm."""
    embed = "x = self.drop(self.wte(idx) + self.wpe(positions))"
    package = make_package(tmp_path, ROOT / "solutions")
    target = tmp_path / package / "e06_gpt2.py"
    watcher = subprocess.Popen(
        [sys.executable, "-m", "gpt2lab", "watch", "e06", "--impl", package, "--root", str(tmp_path),
         "--device", "cpu", "--max-runs", "3", "--timeout", "150", "--interval", "0.05"],
        cwd=ROOT, env=watcher_environment(),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = Lines(watcher.stdout)
    latencies = []
    try:
        _, first = lines.until(r"^Watching ", timeout=120)
        assert re.search(r"✔ e06 .* passed", first), first
        for text, verdict in ((target.read_text().replace(embed, "x = self.drop(self.wte(idx))"),
                               r"✘ e06 .* failing(.|\n)*no position embeddings"),
                              ((ROOT / "solutions" / "e06_gpt2.py").read_text(), r"✔ e06 .* passed")):
            time.sleep(0.2)
            target.write_text(text)
            saved = time.monotonic()
            arrived, screen = lines.until(r"^Watching ", timeout=30)
            assert re.search(verdict, screen), screen
            latencies.append(arrived - saved)
        assert watcher.wait(timeout=30) == 0
    finally:
        watcher.kill()
        watcher.wait()
    print(f"\nwatch mode, e06: verdicts {', '.join(f'{t:.2f}' for t in latencies)} s after the saves")
    assert max(latencies) < allowed(), f"e06's verdicts came {latencies} s after the saves (target: under 1 s)"


# -- the watcher's decisions, in this process ------------------------------------------------------


def watcher_on(tmp_path, ids, edits=None) -> tuple[Watcher, io.StringIO, Path]:
    package = make_package(tmp_path, ROOT / "solutions", edits)
    out = io.StringIO()
    course = [catalog.BY_ID[i] for i in ids]
    return Watcher(course, impl=package, root=tmp_path, device="cpu", out=out, clear=False), out, tmp_path / package


def test_once_checks_everything_and_stops(tmp_path):
    watcher, out, _ = watcher_on(tmp_path, ["e01", "e03"])
    assert watcher.run(max_runs=1) == 0
    text = out.getvalue()
    assert "run 1 — everything checked in" in text and "2/2 passed" in text and text.endswith("(Ctrl-C stops).\n")


def test_timeout_stops_a_watcher_that_sees_no_save(tmp_path):
    watcher, out, _ = watcher_on(tmp_path, ["e01"])
    started = time.monotonic()
    assert watcher.run(timeout=1.0) == 0
    assert time.monotonic() - started < 30 and watcher.runs == 1


def test_what_is_checked_after_a_save(tmp_path):
    split = ("x = x.view(B, T, n_head, C // n_head)  # (B, T, nh, hs): cut each embedding into nh pieces\n"
             "    return x.transpose(1, 2)")
    watcher, _, folder = watcher_on(tmp_path, ["e01", "e02", "e03", "e04"],
                                    {"e03_heads": [(split, "return x.reshape(B, n_head, T, C // n_head)")]})
    watcher.check({"e01", "e02", "e03", "e04"})
    assert {i: r.status for i, r in watcher.results.items()} == {
        "e01": check.PASSED, "e02": check.PASSED, "e03": check.FAILING, "e04": check.BLOCKED}
    assert watcher.current().id == "e03"
    # saving e02 re-checks e02 and the current exercise e03 first, then e04 (built on e02, started)
    assert watcher.after_save([folder / "e02_mlp.py"]) == ({"e02", "e03"}, {"e04"})
    assert watcher.after_save([folder / "e01_layer_norm.py"]) == ({"e01", "e03"}, set())
    assert watcher.after_save([folder / "notes.py"]) == ({"e03"}, set())
    # fixing e03 unblocks e04 once both are checked again
    (folder / "e03_heads.py").write_text((ROOT / "solutions" / "e03_heads.py").read_text())
    forget(watcher.impl, [folder / "e03_heads.py"])
    first, then = watcher.after_save([folder / "e03_heads.py"])
    assert (first, then) == ({"e03"}, {"e04"})
    assert watcher.check_and_advance(first) == {"e03", "e04"}  # e03 passes: on to the current one, e04
    assert watcher.current() is None
    assert watcher.results["e04"].status == check.PASSED and watcher.results["e04"].blocked_by == ()


def test_the_saved_exercise_is_answered_before_those_built_on_it(tmp_path):
    """Saving e01 with e01-e05 done: e01's verdict first, then e05 (built on it) checked again."""
    watcher, out, folder = watcher_on(tmp_path, ["e01", "e02", "e03", "e05"])
    watcher.check({"e01", "e02", "e03", "e05"})
    target = folder / "e01_layer_norm.py"
    target.write_text(target.read_text().replace("+ self.eps)", "+ self.eps + 1.0)"))
    watcher.on_save([target], target.stat().st_mtime_ns)
    screens = out.getvalue().split("GPT-2 kata — watching")[1:]
    assert len(screens) == 2, out.getvalue()
    # e05's "passed" was computed with the old e01: out of date until it is checked again
    assert re.search(r"✘ e01 .* failing", screens[0]) and re.search(r"↻ e05 .* out of date: e01 changed", screens[0])
    assert screens[0].rstrip().endswith("Checking e05 again, built on what you saved..."), screens[0]
    assert re.search(r"✘ e01 .* failing", screens[1]) and re.search(r"e05 .* blocked", screens[1]), screens[1]
    assert "e05 checked again in" in screens[1] and screens[1].rstrip().endswith("(Ctrl-C stops).")
    assert watcher.runs == 3  # the first check, then the two steps


def rows(screen: str) -> dict[str, str]:
    """Each exercise's row of the table, without its title: {"e05": "✔ passed (9 cases)"}."""
    found = {}
    for line in screen.splitlines():
        match = re.match(r"  (\S) (e\d\d)  .{56} (.*)$", line)
        if match:
            found[match.group(2)] = f"{match.group(1)} {match.group(3)}"
    return found


def save(watcher: Watcher, out: io.StringIO, path: Path, text: str) -> list[dict[str, str]]:
    """Save `text` into `path` as an editor would, and return the rows of every screen shown after it."""
    before = len(out.getvalue())
    path.write_text(text)
    watcher.on_save([path], path.stat().st_mtime_ns)
    screens = out.getvalue()[before:].split("GPT-2 kata — watching")[1:]
    assert len(screens) == 2, out.getvalue()[before:]  # the verdict, then what is built on it
    assert screens[0].rstrip().endswith("Checking e05 again, built on what you saved..."), screens[0]
    assert "Next:" not in screens[0] or "Next: e0" + path.name[2] in screens[0], screens[0]
    return [rows(screen) for screen in screens]


def mutated(module: str, mutant_id: str) -> str:
    """A solution file with one of tests/project/mutants' classic mistakes."""
    [mutant] = [m for m in all_mutants() if m.id == mutant_id]
    text = (ROOT / "solutions" / f"{module}.py").read_text()
    for old, new in mutant.edits:
        text = text.replace(old, new)
    return text


def test_a_result_older_than_what_it_builds_on_is_never_shown_as_current(tmp_path):
    """The learner's sequence from issue 14: e04 broken, then fixed, with e05 written; then e01
    broken. Each save's first screen shows e05 out of date, never its result from before the save."""
    ids = ["e01", "e02", "e03", "e04", "e05"]
    watcher, out, folder = watcher_on(tmp_path, ids)
    watcher.check_and_advance(set(ids))
    assert watcher.current() is None
    e01, e04 = folder / "e01_layer_norm.py", folder / "e04_attention.py"

    verdict, then = save(watcher, out, e04, mutated("e04_attention", "e04-no-causal-mask"))
    assert verdict["e04"].startswith("✘ failing") and verdict["e05"].startswith("↻ out of date: e04 changed")
    assert then["e04"].startswith("✘ failing") and then["e05"] == "⧗ blocked (needs e04)"

    verdict, then = save(watcher, out, e04, (ROOT / "solutions" / "e04_attention.py").read_text())
    assert verdict["e04"].startswith("✔ passed") and verdict["e05"].startswith("↻ out of date: e04 changed")
    assert then["e05"].startswith("✔ passed")

    verdict, then = save(watcher, out, e01, mutated("e01_layer_norm", "e01-unbiased-variance"))
    assert verdict["e01"].startswith("✘ failing") and verdict["e05"].startswith("↻ out of date: e01 changed")
    assert then["e05"] == "⧗ blocked (needs e01)"
    assert "e04" not in watcher.after_save([e01])[1]  # e04 does not build on e01: never out of date


def test_a_helper_module_the_exercises_import_makes_them_all_out_of_date(tmp_path):
    watcher, out, folder = watcher_on(tmp_path, ["e01", "e03"])
    watcher.check({"e01", "e03"})
    assert watcher.after_save([folder / "notes.py"], imported={"__init__", "e01_layer_norm"}) == (set(), set())
    assert watcher.after_save([folder / "util.py"], imported={"util", "e01_layer_norm"}) == (set(), {"e01", "e03"})


def test_dependents_follow_the_catalog():
    course = list(catalog.EXERCISES)
    assert "e04" in dependents({"e02"}, course) and "e04" in dependents({"e03"}, course)
    assert not dependents({"e04"}, [catalog.BY_ID["e01"], catalog.BY_ID["e04"]])
    for exercise in course:  # transitively: whatever builds on e04 builds on e02
        if "e04" in exercise.requires:
            assert exercise.id in dependents({"e02"}, course)


def test_forget_drops_the_learners_modules_and_their_bytecode(tmp_path):
    package = make_package(tmp_path, ROOT / "solutions")
    sys.path.insert(0, str(tmp_path))
    writes, sys.dont_write_bytecode = sys.dont_write_bytecode, False
    try:
        module = __import__(f"{package}.e03_heads", fromlist=["split_heads"])
        source = Path(module.__file__)
        cached = Path(module.__cached__)
        assert cached.exists()
        forget(package, [source])
        assert not any(m == package or m.startswith(package + ".") for m in sys.modules)
        assert not cached.exists()
        assert snapshot(source.parent)[source][1] == source.stat().st_size
    finally:
        sys.dont_write_bytecode = writes
        sys.path.remove(str(tmp_path))


# -- in Spanish ------------------------------------------------------------------------------------


def test_the_watch_screens_read_in_spanish(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GPT2LAB_LANG", "es")
    watcher, out, folder = watcher_on(tmp_path, ["e01", "e05"])
    assert watcher.run(max_runs=1) == 0
    first = out.getvalue()
    assert first.startswith(f"kata GPT-2 — vigilando {tmp_path.name}/{watcher.impl}/ en cpu — ejecución 1 — "
                            "todo comprobado en ")
    assert "LayerNorm sobre la dimensión de embedding" in first and "2/2 superados" in first
    assert first.endswith(f"Vigilando {watcher.impl}/: guarda un archivo para volver a comprobar (Ctrl-C lo detiene).\n")
    target = folder / "e01_layer_norm.py"
    target.write_text(mutated("e01_layer_norm", "e01-unbiased-variance"))
    watcher.on_save([target], target.stat().st_mtime_ns)
    screens = out.getvalue()[len(first):].split("kata GPT-2 — vigilando")[1:]
    assert len(screens) == 2, out.getvalue()
    assert re.search(r"— guardaste e01_layer_norm\.py; veredicto \d+\.\d\d s después de guardar\n", screens[0])
    assert re.search(r"✘ e01 .* fallando: pasan \d+ de \d+ casos", screens[0])
    assert re.search(r"↻ e05 .* desactualizado: hubo cambios en e01; se comprueba de nuevo", screens[0])
    assert screens[0].rstrip().endswith("Comprobando de nuevo lo que se basa en lo que guardaste: e05...")
    assert re.search(r"; nueva comprobación de e05 en \d+\.\d\d s\n", screens[1])
    assert re.search(r"⧗ e05 .* bloqueado \(necesita e01\)", screens[1]) and "Siguiente: e01" in screens[1]
    assert screens[1].rstrip().endswith("(Ctrl-C lo detiene).")
    for screen in screens:
        assert english_left(screen) == [] and "{" not in screen, screen
    from gpt2lab.watch import main

    assert main([catalog.BY_ID["e01"]], impl="nowhere", root=tmp_path, suites=ROOT / "tests" / "katas", device="cpu",
                seed=0, once=True, max_runs=None, timeout=None, interval=0.1) == 2
    assert f"no hay ninguna carpeta nowhere/ en {tmp_path}" in capsys.readouterr().err
