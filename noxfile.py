"""The kata's commands. Every session runs in the Python that runs nox: nothing is reinstalled,
so a check answers in seconds (and on Colab the preinstalled torch is used).

    nox -s check                 where you stand, exercise by exercise
    nox -s check -- e04 -v       one exercise, every case
    nox -s solutions             the same suites against the reference solutions
    nox -s tests                 the repository's own tests
    nox -s env                   exercise zero: Python, torch, the GPU, the offline reference
    nox -s hint -- e04           the next hint of an exercise (--all, --reset)
    nox -s watch                 check again on every save in exercises/ (Ctrl-C stops)
    nox -s train                 train your GPT-2 on Shakespeare, or `-- FILE` on any text (e10; --minutes)
    nox -s demo -- "PROMPT"      your GPT-2 continues PROMPT with OpenAI's weights (e01-e07)

Every learner's session takes `--lang es` (or `--lang en`) after `--`: `nox -s check -- --lang es`.
Without it the language is GPT2LAB_LANG, else the locale (LC_ALL, LC_MESSAGES, LANG), else English.

For teachers (see README.md, "For teachers"):
    nox -s grade -- --submission DIR   grade a student's repository with these suites: grades.json
    nox -s grade -- --class DIR        grade a class (a folder per student): gradebook.csv, gradebook.json
    nox -s gradescope -- OUT.zip       build a Gradescope autograder bundle
    nox -s student -- OUTDIR           build the repository handed to students (no solutions/)
    nox -s classroom                   write .github/workflows/classroom.yml from catalog + grading.toml
"""

import importlib.util
import logging
import os
import signal
import subprocess
import sys

import nox


def _load_i18n():
    """gpt2lab/i18n.py by its path: nox's Python may not have the kata on its path yet."""
    spec = importlib.util.spec_from_file_location(
        "gpt2lab_noxfile_i18n", os.path.join(os.path.dirname(os.path.abspath(__file__)), "gpt2lab", "i18n.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


i18n = _load_i18n()


def _(message: str) -> str:
    """A message of this file in the session's language (`--lang` among the session's arguments)."""
    return i18n.translate(message, _SESSION_LANGUAGE[0])


_SESSION_LANGUAGE = [None]  # set by _language() when a session starts


def _language(session: nox.Session) -> list[str]:
    """The session's arguments; their `--lang` (else GPT2LAB_LANG, the locale) becomes the language of
    nox's own messages and, through GPT2LAB_LANG, of the command it runs."""
    args = list(session.posargs)
    _SESSION_LANGUAGE[0] = i18n.set_language(_requested_language(args))
    return args


def _requested_language(args: list[str]) -> str | None:
    for i, arg in enumerate(args):
        value = args[i + 1] if arg == "--lang" and i + 1 < len(args) else arg.partition("=")[2] \
            if arg.startswith("--lang=") else None
        if value in i18n.LANGUAGES:
            return value
    return None

nox.options.default_venv_backend = "none"
nox.options.sessions = ["check"]
# Every session runs in nox's own Python (python=False), yet nox looks for uv before each one and
# logs "uv binary not found." when it is not installed: noise for learners, dropped here.
logging.getLogger("nox").addFilter(lambda record: record.getMessage() != "uv binary not found.")


def _die_with_parent(parent: int):
    """For subprocess's preexec_fn, on Linux: the child gets SIGTERM when nox ends, however nox
    ends (killed, terminal closed), so no check or training keeps running on its own."""

    def arrange() -> None:
        import ctypes

        try:
            ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            return
        if os.getppid() != parent:  # nox ended before the line above
            os._exit(1)

    return arrange if sys.platform.startswith("linux") else None


def _python(*args: str) -> int:
    """`python -m gpt2lab ARGS` in nox's Python, ended with nox; returns its exit code."""
    return subprocess.run([sys.executable, "-m", "gpt2lab", *args],
                          preexec_fn=_die_with_parent(os.getpid())).returncode


def _require(session: nox.Session, *modules: str) -> None:
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        session.error(_(
            "{missing} not found in {python}. Install the kata into the Python that runs nox: `python -m pip "
            "install -e .` from the repository root (then run nox with that same Python: `python -m nox -s "
            "check`).").format(missing=", ".join(missing), python=sys.executable))


def _gpt2lab(session: nox.Session, *args: str) -> None:
    _require(session, "torch", "transformers", "einops", "pytest")
    if _python(*args):
        session.error(_("see the message above"))


@nox.session(python=False)
def check(session: nox.Session) -> None:
    """Run the hidden suites against exercises/: `nox -s check -- e04 -v` for one exercise."""
    args = _language(session)
    _require(session, "torch", "transformers", "einops", "pytest")
    # Not session.run: a failing exercise is the normal state of a kata, not a crashed command.
    code = _python("check", *args)
    if code == 1:
        session.error(_("not everything checked passes yet: see the table above"))
    elif code:
        session.error(_("the checker stopped with exit code {code}").format(code=code))


@nox.session(python=False)
def env(session: nox.Session) -> None:
    """Exercise zero: Python, torch, the GPU, and whether the reference works offline (`-- --lang es`)."""
    code = _python("env", *_language(session))  # it reports what is missing
    if code:
        session.error(_("the environment is not ready: see above"))


@nox.session(python=False)
def hint(session: nox.Session) -> None:
    """The next hint of an exercise: `nox -s hint -- e04` (`--lang es`, `--all`, `--reset`)."""
    if _python("hint", *_language(session)):
        session.error(_("see the message above"))


@nox.session(python=False)
def watch(session: nox.Session) -> None:
    """Check the current exercise again every time a file in exercises/ is saved (Ctrl-C stops)."""
    args = _language(session)
    _require(session, "torch", "transformers", "einops", "pytest")
    try:
        code = _python("watch", *args)
    except KeyboardInterrupt:  # the watcher says goodbye itself
        return
    if code > 1:  # 1 only means that not everything passes yet
        session.error(_("the watcher stopped with exit code {code}").format(code=code))


@nox.session(python=False)
def train(session: nox.Session) -> None:
    """Train your GPT-2 on Shakespeare, or on any text: `nox -s train -- FILE` (--minutes, --steps)."""
    args = _language(session)
    _require(session, "torch", "transformers")
    if _python("train", *args):
        session.error(_("training stopped: see the message above"))


@nox.session(python=False)
def demo(session: nox.Session) -> None:
    """Your GPT-2 writes: `nox -s demo -- "Hello, I'm a language model,"` (--checkpoint DIR)."""
    args = _language(session)
    _require(session, "torch", "transformers")
    code = _python("demo", *args)
    if code:  # the demo has said what is missing and what to do
        session.error(_("the demo could not write: see the message above"))


@nox.session(python=False)
def solutions(session: nox.Session) -> None:
    """Run the hidden suites against the reference solutions (all pass)."""
    _gpt2lab(session, "check", "--impl", "solutions", *_language(session))


@nox.session(python=False)
def tests(session: nox.Session) -> None:
    """The repository's own tests: solutions pass, stubs are not started, mistakes are caught."""
    _require(session, "torch", "transformers", "einops", "pytest", "xdist")
    if not os.path.isdir("tests/project"):
        session.skip("tests/project is the teacher's: this is the students' copy (`nox -s check` is yours)")
    session.run(sys.executable, "-m", "pytest", "tests/project", "-n", "2", "--dist", "loadgroup", *session.posargs,
                external=True)  # loadgroup: the sandbox's attacks, which count leftover processes, run in one worker


@nox.session(python=False)
def grade(session: nox.Session) -> None:
    """Grade a submission (`nox -s grade -- --submission DIR`: grades.json) or a class
    (`nox -s grade -- --class DIR`: gradebook.csv) with this repository's suites."""
    args = _language(session)
    _require(session, "torch", "transformers", "einops", "pytest")
    code = subprocess.run([sys.executable, "-m", "gpt2lab", "grade", *args]).returncode
    if code > 1:  # 1: graded, not everything earned its points
        session.error(f"the grader stopped with exit code {code}")


@nox.session(python=False)
def student(session: nox.Session) -> None:
    """Build the repository handed to students: `nox -s student -- OUTDIR` (no solutions/, one commit)."""
    session.run(sys.executable, "-m", "gpt2lab", "student", *session.posargs, external=True)


@nox.session(python=False)
def gradescope(session: nox.Session) -> None:
    """Build a Gradescope autograder: `nox -s gradescope -- OUT.zip [e01 e02 ...] [--no-sandbox]`."""
    session.run(sys.executable, "-m", "gpt2lab", "gradescope", *session.posargs, external=True)


@nox.session(python=False)
def publish(session: nox.Session) -> None:
    """Point the Colab badges and the notebook at the kata's GitHub repository: `nox -s publish -- URL`."""
    session.run(sys.executable, "-m", "gpt2lab", "publish", *session.posargs, external=True)


@nox.session(python=False)
def classroom(session: nox.Session) -> None:
    """Write .github/workflows/classroom.yml from gpt2lab/catalog.py and grading.toml."""
    session.run(sys.executable, "-m", "gpt2lab", "classroom", *session.posargs, external=True)
