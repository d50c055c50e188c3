"""Correct code passes whatever seed a grade draws (--kata-seed): the reference solutions and the
independent implementations, on seeds that once failed a correct implementation and on seeds drawn
afresh at every run (the failure names the seed). benchmarks/seed_sweep.py runs 200 in a row."""

import random

import pytest

from gpt2lab import catalog
from gpt2lab.check import PASSED
from tests.project.conftest import ROOT

SOURCES = {"solutions": ROOT / "solutions", "alternative": ROOT / "tests" / "project" / "alternative",
           "hf_port": ROOT / "tests" / "project" / "hf_port"}
# test_train_step[AdamW-3-steps] failed the solutions on these seeds while the weights of tiny gradients,
# whose float32 rounding Adam magnifies, had to match to 2e-5 like the others (issue 11)
ADAM_SEEDS = [3, 7, 15, 31, 37, 38, 44, 48, 104, 105]


def drawn(n: int) -> list[int]:
    """Seeds past the 200 of the sweep, different at every run."""
    return random.SystemRandom().sample(range(200, 10**6), n)


def problems(results, seed):
    return [f"seed {seed}, {r.exercise.id} {v['test']}[{v['case']}]: {v.get('message', '')[:400]}"
            for r in results.values() for v in r.graded if v["status"] != "passed"]


def exercises_of(source):
    return [e.id for e in catalog.EXERCISES if (source / f"{e.module}.py").exists()]


@pytest.mark.parametrize("impl", ["solutions", "alternative"])
def test_training_steps_on_seeds_that_once_failed(grade, impl):
    found = []
    for seed in [*ADAM_SEEDS, *drawn(2)]:
        results = grade(["e10"], source=SOURCES[impl], seed=seed, extra=["-k", "test_train_step"])
        assert sum(len(r.graded) for r in results.values()) == 2, "the training-step cases were not selected"
        found += problems(results, seed)
    assert not found, "\n".join(found)


def test_solutions_on_a_seed_drawn_now(grade):
    (seed,) = drawn(1)
    results = grade(exercises_of(SOURCES["solutions"]), seed=seed)
    assert all(r.status == PASSED for r in results.values()), "\n".join(problems(results, seed))
