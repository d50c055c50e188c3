"""Point the kata at the GitHub repository it is published in: `nox -s publish -- URL`.

Until a repository is known, the "Open in Colab" badges open Colab's GitHub tab (the learner
pastes the URL) and the notebook asks for REPO_URL. Once published, one command sets the URL
everywhere it is needed, so that the badges open notebooks/colab.ipynb directly and the notebook
clones the right repository:

- `Repository` under `[project.urls]` in pyproject.toml (tests/project/test_colab.py reads it);
- the badge's target in README.md, README.es.md and notebooks/colab.ipynb;
- the default of REPO_URL in the notebook (GPT2LAB_REPO still overrides it).

Running it again with another URL (a fork, the students' starter repository) replaces the old one.
"""

from __future__ import annotations

import re
from pathlib import Path

from gpt2lab.catalog import ROOT

COLAB = "https://colab.research.google.com/github/"
BADGE = "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
NOTEBOOK = Path("notebooks") / "colab.ipynb"
GITHUB = re.compile(r"https://github\.com/([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+?)(?:\.git)?/?")
# the default of REPO_URL, as it is written in the notebook's JSON
REPO_DEFAULT = re.compile(r'(os\.environ\.get\(\\"GPT2LAB_REPO\\", \\")[^"\\]*(\\"\))')


def repository(url: str) -> str:
    """https://github.com/OWNER/NAME, from what a teacher may paste (a .git suffix, a slash)."""
    found = GITHUB.fullmatch(url.strip())
    if not found:
        raise ValueError(f"{url!r} is not a GitHub repository URL. Colab opens notebooks from GitHub only: "
                         "give https://github.com/OWNER/NAME (on another host, learners set GPT2LAB_REPO "
                         "in the notebook instead)")
    return f"https://github.com/{found.group(1)}/{found.group(2)}"


def badge_target(url: str | None) -> str:
    """Where the badge goes: the notebook on the main branch once the repository is known, else
    Colab's GitHub tab (where the learner pastes the repository's URL)."""
    return f"{COLAB}{url.removeprefix('https://github.com/')}/blob/main/{NOTEBOOK.as_posix()}" if url else COLAB


def with_repository_url(pyproject: str, url: str) -> str:
    """pyproject.toml's text with `Repository = url` under [project.urls] (the table added if absent)."""
    line = f'Repository = "{url}"'
    table = re.search(r"^\[project\.urls\]\n(.*?)(?=^\[|\Z)", pyproject, re.DOTALL | re.MULTILINE)
    if table is None:
        project = re.search(r"^\[project\]\n.*?(?=^\[|\Z)", pyproject, re.DOTALL | re.MULTILINE)
        if project is None:
            raise ValueError("pyproject.toml has no [project] table")
        block = project.group(0).rstrip("\n") + "\n"
        return pyproject[:project.start()] + block + f"\n[project.urls]\n{line}\n\n" + pyproject[project.end():]
    body = table.group(1)
    if re.search(r"^Repository\s*=.*$", body, re.MULTILINE):
        body = re.sub(r"^Repository\s*=.*$", line, body, count=1, flags=re.MULTILINE)
    else:
        body = f"{line}\n{body}"
    return pyproject[:table.start(1)] + body + pyproject[table.end(1):]


def repository_of(root: Path = ROOT) -> str | None:
    """`Repository` under [project.urls] in the kata's pyproject.toml; None before it is published."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    urls = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"].get("urls", {})
    return repository(urls["Repository"]) if "Repository" in urls else None


def publish(url: str, *, root: Path = ROOT) -> list[Path]:
    """Set the repository URL everywhere in the kata at `root`; return the files changed."""
    url = repository(url)
    target = badge_target(url)
    badge = re.compile(re.escape(BADGE) + r"\(https://colab\.research\.google\.com/github/[^)\s\"\\]*\)")
    changed = []
    for name in ("README.md", "README.es.md", NOTEBOOK):
        path = root / name
        text = path.read_text(encoding="utf-8")
        new, count = badge.subn(f"{BADGE}({target})", text)
        if count == 0:
            raise ValueError(f"{path}: no 'Open In Colab' badge to point at the repository")
        if name == NOTEBOOK:
            new, count = REPO_DEFAULT.subn(lambda m: f"{m.group(1)}{url}{m.group(2)}", new)
            if count != 1:
                raise ValueError(f"{path}: the line REPO_URL = os.environ.get(\"GPT2LAB_REPO\", ...) is missing")
        if new != text:
            path.write_text(new, encoding="utf-8")
            changed.append(path)
    pyproject = root / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    new = with_repository_url(text, url)
    if new != text:
        pyproject.write_text(new, encoding="utf-8")
        changed.append(pyproject)
    return changed
