"""The kata's commands. Every session runs in the Python that runs nox: nothing is reinstalled,
so a check answers in seconds (and on Colab the preinstalled torch is used).

    nox -s check                 where you stand, exercise by exercise
    nox -s check -- e04 -v       one exercise, every case
    nox -s solutions             the same suites against the reference solutions
    nox -s tests                 the repository's own tests
"""

import importlib.util
import sys

import nox

nox.options.default_venv_backend = "none"
nox.options.sessions = ["check"]


def _require(session: nox.Session, *modules: str) -> None:
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        session.error(
            f"{', '.join(missing)} not found in {sys.executable}. Install the kata into the Python "
            "that runs nox: `python -m pip install -e .` from the repository root (then run nox "
            "with that same Python: `python -m nox -s check`).")


def _gpt2lab(session: nox.Session, *args: str) -> None:
    _require(session, "torch", "transformers", "einops", "pytest")
    session.run(sys.executable, "-m", "gpt2lab", *args, external=True)


@nox.session(python=False)
def check(session: nox.Session) -> None:
    """Run the hidden suites against exercises/: `nox -s check -- e04 -v` for one exercise."""
    _gpt2lab(session, "check", *session.posargs)


@nox.session(python=False)
def solutions(session: nox.Session) -> None:
    """Run the hidden suites against the reference solutions (all pass)."""
    _gpt2lab(session, "check", "--impl", "solutions", *session.posargs)


@nox.session(python=False)
def tests(session: nox.Session) -> None:
    """The repository's own tests: solutions pass, stubs are not started, mistakes are caught."""
    _require(session, "torch", "transformers", "einops", "pytest", "xdist")
    session.run(sys.executable, "-m", "pytest", "tests/project", "-n", "2", *session.posargs, external=True)
