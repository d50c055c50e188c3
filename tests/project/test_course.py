"""The course as a whole: the reference passes every suite, fresh stubs are "not started",
implementations written differently pass."""

import random
import subprocess
import sys

import pytest

from gpt2lab import catalog, check, reference
from gpt2lab.check import NOT_STARTED, PASSED
from tests.project.conftest import stubs_root

ROOT = check.ROOT
IDS = [exercise.id for exercise in catalog.EXERCISES]


def describe(results):
    return {r.exercise.id: (r.status, r.first_problem()) for r in results.values() if r.status != PASSED}


def test_solutions_pass_every_suite(grade):
    caches = {name: f for name, f in vars(reference).items() if hasattr(f, "cache_info")}
    for f in caches.values():
        f.cache_clear()
    results = grade(IDS)
    assert all(r.status == PASSED for r in results.values()), describe(results)
    assert all(len(r.graded) >= 5 for r in results.values())
    # every reference module the suites use stays built: watch mode runs them all again on a save
    built = {name: f.cache_info().misses for name, f in caches.items()}
    assert "lm_model" in built and max(built.values()) <= reference.CACHED, built


def test_fresh_stubs_are_not_started(grade):
    results = grade(IDS, source=stubs_root() / "exercises")
    assert {i: r.status for i, r in results.items()} == {i: NOT_STARTED for i in IDS}


# written unlike solutions/: einops, addmm, rsqrt, scaled_dot_product_attention (alternative), and
# Hugging Face's own modules as transformers writes them, view() included (hf_port, e01 to e08)
INDEPENDENT = ["alternative", "hf_port"]


@pytest.mark.parametrize("folder", INDEPENDENT)
def test_independent_implementation_passes(grade, folder):
    source = ROOT / "tests" / "project" / folder
    ids = [i for i in IDS if (source / f"{catalog.BY_ID[i].module}.py").exists()]
    seed = random.SystemRandom().randrange(10**6)  # a grade draws its seed too (tests/project/test_seeds.py)
    results = grade(ids, source=source, seed=seed)
    assert all(r.status == PASSED for r in results.values()), (seed, describe(results))


def test_check_command_on_fresh_stubs_reports_without_traceback():
    done = subprocess.run([sys.executable, "-m", "gpt2lab", "check", "--device", "cpu", "--root", stubs_root()],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "Traceback" not in output
    assert output.count("not started") >= len(IDS), output
    assert "Next: e01" in output


def test_check_one_exercise_exit_code():
    ok = subprocess.run([sys.executable, "-m", "gpt2lab", "check", "e03", "--impl", "solutions"],
                        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = subprocess.run([sys.executable, "-m", "gpt2lab", "check", "e03", "--root", stubs_root()], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1 and "not started" in bad.stdout


def test_unknown_exercise_is_explained():
    done = subprocess.run([sys.executable, "-m", "gpt2lab", "check", "e99"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "e01" in done.stderr and "Traceback" not in done.stderr
