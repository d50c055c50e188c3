"""The Colab notebook (notebooks/colab.ipynb) runs from top to bottom, and its runner works.

CI has no Jupyter: tests/project/nbrun.py executes the code cells in order, turning `!cmd` into a
shell command and `%cd` into chdir. The notebook clones GPT2LAB_REPO, which here is a git
repository made from this working tree (so uncommitted changes are what gets tested), with the
stubs as shipped in exercises/.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from gpt2lab import publish
from gpt2lab.check import ROOT
from tests.project import nbrun
from tests.project.conftest import copy_repository

NOTEBOOK = ROOT / "notebooks" / "colab.ipynb"
BADGE = "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
RUNNER = Path(nbrun.__file__)


def notebook(tmp_path: Path, *cells: str) -> Path:
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps({"cells": [{"cell_type": "markdown", "source": ["# title"]}] + [
        {"cell_type": "code", "source": cell.splitlines(True), "outputs": []} for cell in cells]}))
    return path


def run_notebook(path: Path, cwd: Path, **environ) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(environ)
    return subprocess.run([sys.executable, str(RUNNER), str(path)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_runner_shell_lines_cd_and_shared_namespace(tmp_path):
    (tmp_path / "sub").mkdir()
    path = notebook(tmp_path,
                    "name = 'sub'\ngreeting = 'hi there'\n!echo {greeting}",
                    "%cd {name}\nimport os\nhere = os.getcwd()",
                    "for word in ['a', 'b']:\n    !echo word-{word}\nprint('cwd', here)",
                    "!python -c \"import sys; print(sys.executable)\"\n!exit 3\nprint('after a failing command')")
    done = run_notebook(path, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "$ echo hi there\nhi there" in out
    assert f"cwd {tmp_path / 'sub'}" in out and "word-a" in out and "word-b" in out
    assert str(Path(sys.executable).parent / "python") in out  # `python` is the runner's interpreter's
    assert "after a failing command" in out  # like IPython, a failing `!` command does not stop the cell


def test_runner_stops_at_the_first_failing_cell(tmp_path):
    done = run_notebook(notebook(tmp_path, "x = 1", "raise ValueError('no repo')", "print('never')"), tmp_path)
    assert done.returncode == 1 and "cell 2 raised ValueError: no repo" in done.stderr
    assert "never" not in done.stdout
    done = run_notebook(notebook(tmp_path, "%timeit 1 + 1"), tmp_path)
    assert done.returncode == 1 and "unsupported magic: %timeit" in done.stderr


def test_translate_keeps_python_and_indentation():
    assert nbrun.translate("x = 1\n  !ls {x}\n%cd /tmp") == "x = 1\n  __shell__('ls {x}')\n__cd__('/tmp')"
    assert nbrun.translate("%env A=b c") == "__env__('A=b c')"


def test_runner_env_reaches_the_commands(tmp_path):
    path = notebook(tmp_path, "%env GPT2LAB_LANG=es", "!python -c \"import os; print('lang', os.environ['GPT2LAB_LANG'])\"")
    done = run_notebook(path, tmp_path, GPT2LAB_LANG="en")
    assert done.returncode == 0, done.stderr
    assert "lang es" in done.stdout


def test_the_first_code_cell_sets_the_language():
    """One visible line, before anything prints: `%env GPT2LAB_LANG=en`, es for Spanish (gpt2lab/i18n.py)."""
    cell = nbrun.code_cells(NOTEBOOK)[0]
    [line] = [line for line in cell.splitlines() if not line.startswith("#")]
    assert re.fullmatch(r"%env GPT2LAB_LANG=(en|es)", line), line  # no comment after it: %env would keep it
    assert "es" in cell and "español" in cell


def test_in_spanish_the_notebooks_commands_speak_spanish(tmp_path):
    """The language cell, then a command of the notebook's: a hint, in Spanish."""
    language = nbrun.code_cells(NOTEBOOK)[0].replace("GPT2LAB_LANG=en", "GPT2LAB_LANG=es")
    path = notebook(tmp_path, language, f"%cd {ROOT}", f"!python -m gpt2lab hint e01 --root {tmp_path}")
    done = run_notebook(path, tmp_path, GPT2LAB_LANG="en", LANG="en_US.UTF-8")
    assert done.returncode == 0, done.stderr
    assert "pista 1 de" in done.stdout and "Siguiente pista" in done.stdout
    assert nbrun.expand("echo {a + 1} {b}", {"a": 1, "b": "z"}) == "echo 2 z"


def test_notebook_runs_from_top_to_bottom(tmp_path):
    """The notebook, run like a learner on a fresh machine (minus the GPU and the network)."""
    repository = copy_repository(tmp_path / "published")  # this working tree, with the stubs as shipped
    machine = tmp_path / "colab"
    machine.mkdir()
    done = run_notebook(NOTEBOOK, machine, GPT2LAB_REPO=str(repository), HF_HOME=str(machine / "hf"))
    out = done.stdout
    assert done.returncode == 0, out[-4000:] + done.stderr[-4000:]
    assert (machine / "gpt2lab" / "noxfile.py").exists()  # cloned
    assert "Everything the kata needs is installed." in out
    assert "GPT-2 kata — your environment" in out and "works offline" in out and "Ready:" in out
    assert '"""e01 — LayerNorm.' in out  # the exercise file, shown outside Colab
    assert re.search(r"· e01 +LayerNorm .* not started", out) and "Next: e01" in out
    assert "e01 — LayerNorm over the embedding dimension — hint 1 of" in out
    assert (machine / "my_exercises.zip").exists()
    # the payoff cells, before the exercises are written: each says what is missing, in one message
    assert "your GPT-2 is not finished" in out and "The demo needs e01 to e07" in out
    assert "gpt2lab train: e06" in out and "write them first (nox -s check -- e10)" in out
    assert "Traceback" not in out + done.stderr


def test_notebook_without_a_repository_says_what_to_set(tmp_path):
    done = run_notebook(NOTEBOOK, tmp_path, GPT2LAB_REPO="")
    assert done.returncode == 1 and "REPO_URL is empty. Edit line 3 of this cell" in done.stderr
    [cell] = [c for c in nbrun.code_cells(NOTEBOOK) if "REPO_URL is empty" in c]
    assert cell.splitlines()[2].startswith('REPO_URL = os.environ.get("GPT2LAB_REPO", ')  # that line, indeed


def test_the_loss_curve_cell_shows_the_picture_training_saves(tmp_path):
    """What the train cell reads is where `nox -s train` writes its picture (gpt2lab/train.py)."""
    from gpt2lab import train

    [cell] = [c for c in nbrun.code_cells(NOTEBOOK) if "nox -s train" in c]
    assert 'os.path.join(KATA, ".gpt2lab", "train", "loss.png")' in cell
    assert train.OUT.as_posix() == ".gpt2lab/train" and "display(Image(filename=curve))" in cell


def repository_url(root: Path = ROOT) -> str | None:
    """`Repository` under [project.urls] in pyproject.toml, when the kata is published."""
    text = (root / "pyproject.toml").read_text()
    urls = re.search(r"^\[project\.urls\]\n(.*?)(?:^\[|\Z)", text, re.S | re.M)
    found = urls and re.search(r'^Repository\s*=\s*"([^"]+)"', urls.group(1), re.M)
    return found.group(1).removesuffix(".git") if found else None


def expect_badges(root: Path = ROOT) -> None:
    """With a published Repository URL the badges open the notebook directly, and the notebook
    clones that repository; without one, the badges open Colab's GitHub tab."""
    url = repository_url(root)
    if url:
        target = url.replace("https://github.com/", "https://colab.research.google.com/github/") + \
            "/blob/main/notebooks/colab.ipynb"
    else:
        target = "https://colab.research.google.com/github/"
    badge = f"{BADGE}({target})"
    for path in (root / "README.md", root / "README.es.md", root / "notebooks" / "colab.ipynb"):
        text = path.read_text(encoding="utf-8").replace('\\"', '"')
        assert badge in text, f"{path.name}: expected {badge}"
        assert text.count("colab.research.google.com/github/") == 1, f"{path.name}: one badge, pointing at {target}"
    notebook_text = (root / "notebooks" / "colab.ipynb").read_text(encoding="utf-8")
    json.loads(notebook_text)
    default = url or ""
    assert f'os.environ.get(\\"GPT2LAB_REPO\\", \\"{default}\\")' in notebook_text


def test_badges_open_the_notebook_in_colab():
    expect_badges(ROOT)


# -- nox -s publish -- URL: the kata pointed at its GitHub repository -----------------------------


def kata_copy(tmp_path: Path, pyproject: str | None = None) -> Path:
    root = tmp_path / "kata"
    (root / "notebooks").mkdir(parents=True)
    for name in ("README.md", "README.es.md", "notebooks/colab.ipynb", "pyproject.toml"):
        shutil.copy(ROOT / name, root / name)
    if pyproject is not None:
        (root / "pyproject.toml").write_text(pyproject)
    return root


def test_publish_points_badges_notebook_and_pyproject_at_the_repository(tmp_path):
    root = kata_copy(tmp_path)
    done = subprocess.run([sys.executable, "-m", "gpt2lab", "publish", "https://github.com/ana/gpt2-kata.git/",
                           "--root", str(root)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "https://github.com/ana/gpt2-kata" in done.stdout and "notebooks/colab.ipynb" in done.stdout
    assert repository_url(root) == "https://github.com/ana/gpt2-kata"
    expect_badges(root)
    import tomllib

    assert tomllib.loads((root / "pyproject.toml").read_text())["project"]["urls"] == {
        "Repository": "https://github.com/ana/gpt2-kata"}

    # again with a fork's URL: it replaces the first one; the same URL twice changes nothing
    publish.publish("https://github.com/luis/gpt2-kata", root=root)
    assert repository_url(root) == "https://github.com/luis/gpt2-kata"
    expect_badges(root)
    assert "ana/" not in "".join(p.read_text() for p in root.rglob("*") if p.is_file())
    assert publish.publish("https://github.com/luis/gpt2-kata", root=root) == []
    assert publish.repository_of(root) == "https://github.com/luis/gpt2-kata"


def test_publish_keeps_other_project_urls(tmp_path):
    text = (ROOT / "pyproject.toml").read_text()
    text = re.sub(r"^\[project\.urls\]\n(.*?)(?=^\[|\Z)", "", text, flags=re.S | re.M)
    text = text.replace("\n[tool.setuptools]\n", '\n[project.urls]\nHomepage = "https://example.org/kata"\n\n'
                        "[tool.setuptools]\n", 1)
    assert "Homepage" in text
    root = kata_copy(tmp_path, text)
    publish.publish("https://github.com/ana/kata", root=root)
    import tomllib

    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    assert project["urls"] == {"Repository": "https://github.com/ana/kata", "Homepage": "https://example.org/kata"}
    assert project["name"] == "gpt2lab"


def test_publish_refuses_what_colab_cannot_open(tmp_path):
    root = kata_copy(tmp_path)
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    for url in ("https://gitlab.com/ana/kata", "github.com/ana/kata", "https://github.com/ana",
                "https://github.com/ana/kata/tree/dev"):
        done = subprocess.run([sys.executable, "-m", "gpt2lab", "publish", url, "--root", str(root)],
                              cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and "https://github.com/OWNER/NAME" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before
