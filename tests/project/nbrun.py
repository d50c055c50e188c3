"""Run a Jupyter notebook's code cells in order, in one namespace, without Jupyter.

Enough of IPython for our Colab notebook: `!command` lines run in a shell (the exit status is not
checked, as in IPython), `%cd path` changes directory, `%env NAME=value` sets an environment
variable for this process and the commands it runs, and `{expression}` inside any of them is replaced
by its value in the notebook's namespace. `python` and `pip` in a command are this interpreter's
(its directory goes first on PATH), as a notebook kernel's are. Any other `%magic` is an error.

    python tests/project/nbrun.py notebooks/colab.ipynb     (run from the directory it should start in)
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

MAGIC = re.compile(r"^(\s*)(!|%cd\s+|%env\s+)(.*)$")
HELPERS = {"!": "__shell__", "%cd": "__cd__", "%env": "__env__"}


class CellError(RuntimeError):
    pass


def code_cells(path: Path) -> list[str]:
    notebook = json.loads(path.read_text(encoding="utf-8"))
    return ["".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            for cell in notebook["cells"] if cell["cell_type"] == "code"]


def translate(source: str) -> str:
    """Turn `!cmd` and `%cd dir` lines into calls of the runner's helpers; refuse other magics."""
    lines = []
    for line in source.splitlines():
        match = MAGIC.match(line)
        if match:
            indent, kind, rest = match.groups()
            helper = HELPERS[kind.strip()]
            lines.append(f"{indent}{helper}({rest!r})")
        elif re.match(r"^\s*%", line):
            raise CellError(f"unsupported magic: {line.strip()}")
        else:
            lines.append(line)
    return "\n".join(lines)


def expand(text: str, namespace: dict) -> str:
    """IPython's `{expression}` expansion in a command line."""
    return re.sub(r"\{([^{}]+)\}", lambda m: str(eval(m.group(1), namespace)), text)  # noqa: S307


def run(path: Path, *, echo=print) -> dict:
    """Execute every code cell of the notebook; return its namespace. Stops at the first error."""
    namespace: dict = {"__name__": "__main__"}
    search_path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])

    def shell(command: str) -> int:
        command = expand(command, namespace)
        echo(f"$ {command}")
        done = subprocess.run(command, shell=True, env=dict(os.environ, PATH=search_path), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
        echo(done.stdout.rstrip("\n"))
        return done.returncode

    def cd(target: str) -> None:
        os.chdir(os.path.expanduser(expand(target.strip().strip("'\""), namespace)))
        echo(os.getcwd())

    def env(assignment: str) -> None:
        """IPython's `%env NAME=value` (or `%env NAME value`): the value is the rest of the line."""
        name, _sep, value = expand(assignment, namespace).strip().partition("=" if "=" in assignment else " ")
        os.environ[name.strip()] = value.strip()
        echo(f"env: {name.strip()}={value.strip()}")

    namespace.update(__shell__=shell, __cd__=cd, __env__=env)
    sys.path.insert(0, "")  # like a kernel: modules in the current directory import
    for index, source in enumerate(code_cells(path), 1):
        echo(f"--- cell {index}")
        try:
            exec(compile(translate(source), f"<cell {index}>", "exec"), namespace)  # noqa: S102
        except Exception as error:
            raise CellError(f"cell {index} raised {type(error).__name__}: {error}") from error
    return namespace


if __name__ == "__main__":
    try:
        run(Path(sys.argv[1]).resolve(), echo=lambda text: print(text, flush=True))
    except CellError as error:
        print(f"nbrun: {error}", file=sys.stderr)
        sys.exit(1)
