"""What `nox -s check` prints, and how failures inside the learner's own code are explained.

The first half renders hand-made results (fast); the second half grades variant packages of the
solutions with real pytest runs (tests/project/conftest.py's `grade`) and reads the verdicts.
"""

import re
import subprocess
import sys

import pytest

from gpt2lab import catalog
from gpt2lab.check import ROOT as ROOT_DIR
from gpt2lab.check import BLOCKED, FAILING, MISSING, NOT_STARTED, PASSED, ExerciseResult, link_blocked
from gpt2lab.report import Style, render
from tests.project.conftest import stubs_root
from tests.project.test_verdict import english_left

PLAIN = Style(colour=False, unicode=True)
ASCII = Style(colour=False, unicode=False)


def exercise(n: int, requires: tuple[str, ...] = ()) -> catalog.Exercise:
    return catalog.Exercise(f"e{n:02d}", f"e{n:02d}_thing", f"Thing number {n}", f"Cosa número {n}",
                            requires=requires)


def verdict(ex: catalog.Exercise, status: str, case: str = "", test: str = "test_forward",
            message: str = "", **extra) -> dict:
    return {"exercise": ex.id, "case": case, "test": test, "phase": "call", "status": status,
            "message": message, **extra}


def course() -> list[ExerciseResult]:
    """e01 passes, e02 fails, e03 builds on e02 and fails, e04 is a stub, e05 has no tests."""
    e1, e2, e3, e4, e5 = exercise(1), exercise(2), exercise(3, ("e02",)), exercise(4), exercise(5)
    results = [
        ExerciseResult(e1, [verdict(e1, "passed", "a"), verdict(e1, "passed", "b")]),
        ExerciseResult(e2, [verdict(e2, "passed", "small"),
                            verdict(e2, "failed", "wide", message="case: wide\nlargest error 3.1e-02")]),
        ExerciseResult(e3, [verdict(e3, "failed", "x", message="case: x\ndiffers")]),
        ExerciseResult(e4, [verdict(e4, "not_started", "a", message="e04: Thing is not written yet")]),
        ExerciseResult(e5, []),
    ]
    link_blocked(results)
    return results


def test_table_lists_every_exercise_in_course_order_with_its_status():
    results = course()
    assert [r.status for r in results] == [PASSED, FAILING, BLOCKED, NOT_STARTED, MISSING]
    text = render(results, header="HEADER", style=PLAIN)
    rows = [line for line in text.splitlines() if re.match(r"  \S e0\d  ", line)]
    assert [row.split()[1] for row in rows] == ["e01", "e02", "e03", "e04", "e05"]
    assert "passed (2 cases)" in rows[0] and "failing: 1 of 2 cases pass" in rows[1]
    assert "blocked (needs e02)" in rows[2] and "not started" in rows[3] and "no tests" in rows[4]
    assert [row.split()[0] for row in rows] == ["✔", "✘", "⧗", "·", "?"]
    assert text.startswith("HEADER\n")


def test_progress_bar_and_the_next_exercise_with_its_commands():
    text = render(course(), header="H", style=PLAIN)
    assert "progress [" + "█" * 5 + "░" * 19 + "] 1/5 passed" in text
    assert text.splitlines()[-1] == ("Next: e02 — exercises/e02_thing.py. Details: `nox -s check -- e02 -v`; "
                                     "a hint: `nox -s hint -- e02`.")
    assert "First problem in e02 (exercises/e02_thing.py), test test_forward[wide]:" in text
    assert "\n  case: wide\n  largest error 3.1e-02\n" in text  # the message, indented under the heading


def test_ascii_and_colour_styles():
    text = render(course(), header="H", style=ASCII)
    assert "✔" not in text and "█" not in text
    assert "  ok e01" in text and "  XX e02" in text and "  -- e03" in text and "  .. e04" in text
    assert "[#####-------------------]" in text
    assert "\033[" not in text
    assert "\033[32m" in render(course(), header="H", style=Style(colour=True, unicode=True))


def test_verbose_lists_every_case_of_every_exercise():
    results = course()
    text = render(results, header="H", verbose=True, style=PLAIN)
    for result in results:
        for v in result.verdicts:
            assert re.search(rf"  \S {v['test']}\[{v['case']}\]", text), (v, text)
    assert "test_forward[wide]  (failed)" in text and "test_forward[a]  (not started)" in text


def test_verbose_shows_each_failing_cases_message_and_does_not_suggest_itself():
    e2 = exercise(2)
    long = "case: wide\n" + "\n".join(f"line {n}" for n in range(1, 9))
    result = ExerciseResult(e2, [verdict(e2, "failed", "wide", message=long),
                                 verdict(e2, "passed", "small"),
                                 verdict(e2, "error", "odd", message="your code raised ValueError: no\n  here")])
    text = render([result], header="H", verbose=True, style=PLAIN)
    listing = text[text.index("e02: every case"):text.index("First problem")]
    assert "  ✘ test_forward[wide]  (failed)\n      line 1\n      line 2\n      line 3\n      line 4\n      ...\n" \
        in listing and "line 5" not in listing and "case: wide" not in listing
    assert "  ✘ test_forward[odd]  (error)\n      your code raised ValueError: no\n        here" in listing
    assert "-v" not in text.splitlines()[-1] and "nox -s hint -- e02" in text.splitlines()[-1]
    assert "`nox -s check -- e02 -v`" in render([result], header="H", style=PLAIN).splitlines()[-1]


def core_and_bonus(bonus_status: str = "not_started") -> list[ExerciseResult]:
    """The catalogue's core exercises, passing, and its bonus exercises in the given state."""
    return [ExerciseResult(e, [verdict(e, bonus_status if e.bonus else "passed", "a", message="x")])
            for e in catalog.EXERCISES]


def test_the_core_course_done_is_said_with_what_comes_next():
    from gpt2lab.check import course_passes

    results = core_and_bonus()
    assert course_passes(results) and not course_passes(results, named=True)
    text = render(results, header="H", style=PLAIN)
    assert "The core course passes (e01 to e07): your GPT-2 is complete." in text
    assert "nox -s demo" in text and "nox -s train" in text and "(after bonus e10" in text
    assert "e08  A key/value cache for fast generation: nox -s check -- e08" in text and "Next:" not in text
    named = render(results, header="H", style=PLAIN, named=True)  # `nox -s check -- e01 ... e10`
    assert "Next: e08" in named
    started = core_and_bonus("failed")  # a bonus exercise counts once it is started
    assert not course_passes(started) and "Next: e08" in render(started, header="H", style=PLAIN)


def test_check_exits_0_once_the_core_course_passes(monkeypatch, capsys):
    """`nox -s check`: e01-e07 pass, the bonus exercises are not started: done, exit 0. A bonus
    exercise named on the command line, or started, counts."""
    from gpt2lab import check, cli

    def run(exercises, **options):
        started = {"e09"} if options.get("seed") == 1 else set()
        return [ExerciseResult(e, [verdict(e, "not_started" if e.bonus and e.id not in started else
                                           "failed" if e.bonus else "passed", "a", message="x")])
                for e in exercises]

    monkeypatch.setattr(check, "run", run)
    root = ["--root", str(stubs_root()), "--device", "cpu"]
    assert cli.main(["check", *root]) == 0
    assert "The core course passes (e01 to e07): your GPT-2 is complete." in capsys.readouterr().out
    assert cli.main(["check", "e08", *root]) == 1 and "Next: e08" in capsys.readouterr().out
    assert cli.main(["check", "--seed", "1", *root]) == 1 and "Next: e09" in capsys.readouterr().out


def test_a_result_older_than_what_it_builds_on_is_shown_out_of_date_never_as_the_next_step():
    results = course()
    results[1].outdated_by = ("e01",)  # e02 failed, but e01 changed since
    text = render(results, header="H", style=PLAIN)
    row = next(line for line in text.splitlines() if " e02 " in line)
    assert row.split()[0] == "↻" and "out of date: e01 changed; checking again" in row
    assert "failing" not in row and "Next:" not in text and "First problem" not in text
    assert text.splitlines()[-1].startswith("e02 is out of date (e01 changed since they were checked)")
    assert "1/5 passed" in text
    results[0].outdated_by = ("e00",)  # a passed result out of date no longer counts as passed
    assert "0/5 passed" in render(results, header="H", style=PLAIN)


def test_not_started_blocked_and_done_explanations():
    results = course()
    e4 = render(results[3:4], header="H", style=PLAIN)
    assert "e04 is not started: open exercises/e04_thing.py and replace each `raise NotImplementedError`" in e4
    e3 = render(results[2:3], header="H", style=PLAIN)
    assert "e03 builds on e02, which is not passing yet: fix e02 first." in e3
    done = render(results[:1], header="H", style=PLAIN)
    assert "e01 passes. Run `nox -s check` for the whole course." in done
    some = render([results[0], results[0]], header="H", style=PLAIN)
    assert "e01, e01: every one checked passes. Run `nox -s check` for the whole course." in some
    everything = [ExerciseResult(e, [verdict(e, "passed", "a")]) for e in catalog.EXERCISES]
    assert "All done: every exercise passes." in render(everything, header="H", style=PLAIN)


def test_no_tests_is_never_the_next_exercise():
    results = course()
    text = render([results[0], results[4], results[3]], header="H", style=PLAIN)
    assert "Next: e04" in text
    text = render([results[0], results[4]], header="H", style=PLAIN)
    assert "Next:" not in text and "no hidden suite found for e05" in text


def test_partly_written_exercise_is_failing_and_names_the_missing_part():
    e2 = exercise(2)
    result = ExerciseResult(e2, [verdict(e2, "passed", "gelu"),
                                 verdict(e2, "not_started", "mlp", message="e02: MLP.__init__ is not written yet")])
    assert result.status == FAILING
    text = render([result], header="H", style=PLAIN)
    assert "not written yet: e02: MLP.__init__ is not written yet" in text


def test_a_stub_of_an_earlier_exercise_is_named_as_what_to_do_first():
    """e04 written, but the Conv1D it calls (e02) raises NotImplementedError in e02's file."""
    e4 = exercise(4, ("e02",))
    result = ExerciseResult(e4, [verdict(e4, "not_started", "a", message="e02: Conv1D.__init__ is not written yet",
                                         in_exercise="e02")])
    link_blocked([result])  # e02 was not checked in this run: the verdict alone says who raised it
    assert result.status == NOT_STARTED and result.blocked_by == ("e02",) and result.waiting_on == ("e02",)
    text = render([result], header="H", style=PLAIN)
    assert ("e04 cannot run yet: it calls code of e02 that is not written yet "
            "(e02: Conv1D.__init__ is not written yet). Do e02 first.") in text
    assert "Next: e02 — exercises/e02_mlp.py." in text
    own = ExerciseResult(e4, [*result.verdicts, verdict(e4, "not_started", "b", in_exercise="e04")])
    link_blocked([own])
    assert own.waiting_on == () and "e04 is not started" in render([own], header="H", style=PLAIN)


# -- real runs of the hidden suites on variant packages -------------------------------------------


def line_of(source: str, text: str) -> int:
    """1-based line number of the only line of `source` containing `text`."""
    found = [n for n, line in enumerate(source.splitlines(), 1) if text in line]
    assert len(found) == 1, (text, found)
    return found[0]


def problems(result: ExerciseResult) -> list[dict]:
    return [v for v in result.graded if v["status"] != "passed"]


def test_exception_in_learner_code_points_at_the_learners_line(grade):
    bad = "return x.transpose(-1, -2) @ self.weight + self.bias  # bad matmul"
    result = grade(["e02"], edits={"e02_mlp": [("return x @ self.weight + self.bias", bad)]})["e02"]
    assert result.status == FAILING
    errors = [v for v in problems(result) if v["status"] == "error"]
    assert errors, problems(result)
    message = errors[0]["message"]
    lineno = line_of((ROOT_DIR / "solutions" / "e02_mlp.py").read_text(), "return x @ self.weight + self.bias")
    assert message.startswith("your code raised RuntimeError:"), message
    assert re.search(rf"variant_\w+_solutions/e02_mlp\.py:{lineno} in forward\n    {re.escape(bad)}", message), message
    assert "gpt2lab" not in message and "site-packages" not in message  # our frames and torch's are not shown
    assert errors[0]["in_exercise"] == "e02"
    text = render([result], header="H", style=PLAIN)
    assert f"e02_mlp.py:{lineno} in forward" in text


def test_syntax_error_in_learner_file(grade):
    result = grade(["e01"], edits={"e01_layer_norm": [("def forward(self, x: torch.Tensor) -> torch.Tensor:",
                                                        "def forward(self, x: torch.Tensor) -> torch.Tensor")]})["e01"]
    assert result.status == FAILING and result.passed == 0
    lineno = line_of((ROOT_DIR / "solutions" / "e01_layer_norm.py").read_text(), "def forward(")
    for v in result.graded:
        assert v["status"] == "error"
        assert v["message"].startswith("your file does not compile:"), v["message"]
        assert re.search(rf"e01_layer_norm\.py:{lineno}\n    def forward\(self, x: torch.Tensor\) -> torch.Tensor$",
                         v["message"]), v["message"]


def test_import_error_in_learner_file(grade):
    result = grade(["e04"], edits={"e04_attention": [("from .e03_heads import merge_heads, split_heads",
                                                      "from .e03_heads import merge_head, split_heads")]})["e04"]
    assert result.status == FAILING and result.passed == 0
    lineno = line_of((ROOT_DIR / "solutions" / "e04_attention.py").read_text(), "from .e03_heads import")
    message = result.first_problem()["message"]
    assert message.startswith("your code raised ImportError: cannot import name 'merge_head'"), message
    assert f"e04_attention.py:{lineno} in <module>\n    from .e03_heads import merge_head, split_heads" in message


def test_missing_module_in_learner_file(grade):
    result = grade(["e03"], edits={"e03_heads": [("import torch", "import torch\nimport einopz")]})["e03"]
    message = result.first_problem()["message"]
    assert result.status == FAILING
    assert message.startswith("your code raised ModuleNotFoundError: No module named 'einopz'"), message
    assert "e03_heads.py:4 in <module>\n    import einopz" in message


def test_stub_is_not_started(grade):
    result = grade(["e01"], source=stubs_root() / "exercises")["e01"]
    assert result.status == NOT_STARTED and result.passed == 0
    assert all(v["status"] == "not_started" for v in result.graded)
    assert "e01 is not started: open exercises/e01_layer_norm.py" in render([result], header="H", style=PLAIN)


def test_partly_written_exercise_from_a_real_run(grade):
    stub = '        raise NotImplementedError("e02: MLP.__init__ is not written yet")\n'
    edits = [("        self.c_fc = Conv1D(4 * n_embd, n_embd)  # C -> 4C\n", stub)]
    result = grade(["e02"], edits={"e02_mlp": edits})["e02"]
    assert result.status == FAILING and result.passed > 0  # gelu and Conv1D pass
    assert "not written yet: e02: MLP.__init__ is not written yet" in render([result], header="H", style=PLAIN)


def test_failing_dependency_blocks_the_exercise(grade):
    split = ("x = x.view(B, T, n_head, C // n_head)  # (B, T, nh, hs): cut each embedding into nh pieces\n"
             "    return x.transpose(1, 2)")
    results = grade(["e03", "e04"], edits={"e03_heads": [(split, "return x.reshape(B, n_head, T, C // n_head)")]})
    assert results["e03"].status == FAILING
    assert results["e04"].status == BLOCKED and results["e04"].blocked_by == ("e03",)
    text = render(list(results.values()), header="H", style=PLAIN)
    assert "blocked (needs e03)" in text and "Next: e03" in text


def test_unwritten_dependency_of_a_written_exercise_checked_alone(grade):
    stub = '        raise NotImplementedError("e02: Conv1D.__init__ is not written yet")\n'
    edits = [("        self.weight = nn.Parameter(torch.empty(nx, nf))  # (in, out)\n", stub)]
    result = grade(["e04"], edits={"e02_mlp": edits})["e04"]
    assert result.status == NOT_STARTED and result.waiting_on == ("e02",)
    text = render([result], header="H", style=PLAIN)
    assert "e04 cannot run yet: it calls code of e02 that is not written yet" in text
    assert "Next: e02 — exercises/e02_mlp.py." in text


def test_check_verbose_command_lists_every_case():
    done = subprocess.run([sys.executable, "-m", "gpt2lab", "check", "e03", "-v", "--impl", "solutions"],
                          cwd=ROOT_DIR, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    cases = re.findall(r"^  \S (test_\w+\[[^\]]+\])$", done.stdout, flags=re.M)
    assert len(cases) == len(set(cases)) >= 13, done.stdout
    assert "e03 passes" in done.stdout


def test_a_hidden_suite_that_cannot_be_collected_is_an_error_not_an_interrupt(tmp_path):
    from gpt2lab import check

    suites = tmp_path / "tests" / "katas"
    suites.mkdir(parents=True)
    (tmp_path / "tests" / "conftest.py").write_text('pytest_plugins = ["gpt2lab.pytest_plugin"]\n')
    (suites / "__init__.py").write_text("")
    (suites / "test_e01_layer_norm.py").write_text("import a_module_that_does_not_exist\n")
    before = dict(sys.modules)
    try:
        with pytest.raises(RuntimeError, match="could not be collected"):
            check.run([catalog.BY_ID["e01"]], impl="solutions", suites=suites)
    finally:  # this fake `katas` package must not shadow the real suites in later runs
        for name in [n for n in sys.modules if before.get(n) is not sys.modules[n]]:
            del sys.modules[name]
        sys.modules.update(before)


# -- in Spanish ------------------------------------------------------------------------------------


@pytest.fixture
def spanish(monkeypatch):
    """GPT2LAB_LANG=es, as `--lang es` or a Spanish locale sets it."""
    monkeypatch.setenv("GPT2LAB_LANG", "es")


def spanish_course() -> list[ExerciseResult]:
    """course(), with the messages a Spanish run of the suites would have written."""
    results = course()
    results[1].verdicts[1]["message"] = "caso: wide\nmayor error 3.1e-02"
    results[2].verdicts[0]["message"] = "caso: x\nno coincide"
    results[3].verdicts[0]["message"] = "e04: Thing aún no está escrito"
    return results


def test_the_table_and_the_next_step_read_in_spanish(spanish):
    text = render(spanish_course(), header="CABECERA", style=PLAIN)
    rows = [line for line in text.splitlines() if re.match(r"  \S e0\d  ", line)]
    assert [row.split()[1] for row in rows] == ["e01", "e02", "e03", "e04", "e05"]
    assert "Cosa número 1" in rows[0] and "Thing number" not in text  # the catalogue's Spanish titles
    assert rows[0].endswith("superado (2 casos)") and rows[1].endswith("fallando: pasan 1 de 2 casos")
    assert rows[2].endswith("bloqueado (necesita e02)") and rows[3].endswith("sin empezar")
    assert rows[4].endswith("sin tests")
    assert "  progreso [" + "█" * 5 + "░" * 19 + "] 1/5 superados" in text
    assert "Primer problema en e02 (exercises/e02_thing.py), test test_forward[wide]:\n  caso: wide\n" in text
    assert text.splitlines()[-1] == ("Siguiente: e02 — exercises/e02_thing.py. Detalles: `nox -s check -- e02 -v`; "
                                     "una pista: `nox -s hint -- e02`.")
    assert english_left(text) == [] and "{" not in text


def test_a_longer_spanish_title_widens_the_column_and_keeps_it_aligned(spanish):
    long = catalog.Exercise("e01", "e01_thing", "Short", "Un título en español bastante más largo que su inglés, "
                            "con más de 56 caracteres")
    e2 = exercise(2)
    results = [ExerciseResult(long, [verdict(long, "passed", "a")]), ExerciseResult(e2, [verdict(e2, "passed", "b")])]
    rows = [line for line in render(results, header="H", style=PLAIN).splitlines() if re.match(r"  \S e0\d  ", line)]
    assert long.title_es + " superado" in rows[0]
    assert rows[0].index("superado") == rows[1].index("superado")


def test_every_explanation_reads_in_spanish(spanish):
    results = spanish_course()
    verbose = render(results, header="H", verbose=True, style=PLAIN)
    assert "e02: cada caso" in verbose and "test_forward[wide]  (falla)" in verbose
    assert "test_forward[a]  (sin empezar)" in verbose and "      mayor error 3.1e-02" in verbose
    assert "Siguiente: e02 — exercises/e02_thing.py. Una pista: `nox -s hint -- e02`." in verbose
    e4 = render(results[3:4], header="H", style=PLAIN)
    assert ("e04 está sin empezar: abre exercises/e04_thing.py y sustituye cada `raise NotImplementedError` "
            "por tu código.") in e4
    e3 = render(results[2:3], header="H", style=PLAIN)
    assert "e03 se basa en e02, que aún no pasa: arregla antes e02." in e3
    e5 = ExerciseResult(exercise(5, ("e02", "e03")), [verdict(exercise(5), "failed", "y", message="caso: y")])
    link_blocked([*results[1:3], e5])
    assert "e05 se basa en e02, e03, que aún no pasan: arregla antes e02." in render([e5], header="H", style=PLAIN)
    waiting = ExerciseResult(exercise(4, ("e02",)), [verdict(exercise(4), "not_started", "a", in_exercise="e02",
                                                             message="e02: Conv1D aún no está escrito")])
    link_blocked([waiting])
    assert ("e04 aún no puede ejecutarse: llama a código de e02 que aún no está escrito "
            "(e02: Conv1D aún no está escrito). Haz antes e02.") in render([waiting], header="H", style=PLAIN)
    e2 = exercise(2)
    partly = ExerciseResult(e2, [verdict(e2, "passed", "gelu"), verdict(e2, "not_started", "mlp", message="MLP")])
    assert "  aún sin escribir: MLP" in render([partly], header="H", style=PLAIN)
    for text in (verbose, e4, e3):
        assert english_left(text) == [] and "{" not in text, text


def test_out_of_date_and_done_read_in_spanish(spanish):
    results = spanish_course()
    results[1].outdated_by = ("e01",)
    text = render(results, header="H", style=PLAIN)
    row = next(line for line in text.splitlines() if " e02 " in line)
    assert row.endswith("desactualizado: hubo cambios en e01; se comprueba de nuevo")
    assert text.splitlines()[-1] == ("e02 está desactualizado (hubo cambios en e01 desde que se comprobó): el "
                                     "siguiente paso llegará cuando se compruebe de nuevo.")
    results[2].outdated_by = ("e01",)
    assert "e02, e03 están desactualizados" in render(results, header="H", style=PLAIN)
    core = render(core_and_bonus(), header="H", style=PLAIN)
    assert "El curso básico pasa (e01 a e07): tu GPT-2 está completo.\nY ahora:\n" in core
    assert "  nox -s demo     tu GPT-2 escribe" in core and "  nox -s train    entrena tu GPT-2" in core
    assert "(después del extra e10, tu paso de entrenamiento)" in core
    assert "    e08  Una caché de claves y valores para generar rápido: nox -s check -- e08" in core
    assert "e08  Una caché de claves y valores para generar rápido (extra)" in core  # the table's bonus mark
    everything = render([ExerciseResult(e, [verdict(e, "passed", "a")]) for e in catalog.EXERCISES], header="H",
                        style=PLAIN)
    assert "¡Terminado! Todos los ejercicios pasan." in everything
    one = render(results[:1], header="H", style=PLAIN)
    assert "e01 pasa. Ejecuta `nox -s check` para todo el curso." in one
    assert "no se encontró ninguna suite oculta para e05" in render([results[0], results[4]], header="H", style=PLAIN)
    for text in (text, core, everything, one):
        assert english_left(text) == [] and "{" not in text, text


def test_a_real_run_explains_the_learners_exception_in_spanish(spanish, grade):
    bad = "return x.transpose(-1, -2) @ self.weight + self.bias  # bad matmul"
    result = grade(["e02"], edits={"e02_mlp": [("return x @ self.weight + self.bias", bad)]})["e02"]
    error = next(v for v in problems(result) if v["status"] == "error")
    assert error["message"].startswith("tu código lanzó RuntimeError:"), error["message"]
    assert re.search(r"e02_mlp\.py:\d+ en forward\n    ", error["message"]), error["message"]
    assert "fallando: pasan" in render([result], header="H", style=PLAIN)
