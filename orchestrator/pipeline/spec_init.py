"""``fbench init``: a commented TOML spec for a repository, its commands guessed from its files.

The guesses are the ones a person would make reading the repository: an
editable install when it has packaging metadata (with its test extra when it
declares one), requirement files for tests installed first, and the pytest
plugins its pytest configuration asks for. The written spec is read back
through :func:`load_specs` before it is put in place, so it is always valid.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.errors import UsageError
from orchestrator.pipeline.specs import load_specs
from orchestrator.pipeline.storage import write_atomic

TEST_EXTRAS = ("test", "tests", "testing", "dev")
TEST_REQUIREMENTS = (
    "requirements-test.txt",
    "requirements_test.txt",
    "test-requirements.txt",
    "requirements-dev.txt",
    "requirements/test.txt",
    "requirements/tests.txt",
)
# pytest options in a project's configuration, and the plugin that provides each.
PLUGIN_OPTIONS = {"--cov": "pytest-cov", "-n ": "pytest-xdist", "--timeout": "pytest-timeout"}


@dataclass
class Guess:
    name: str
    pre_install: list[str] = field(default_factory=list)
    install: str = "pip install -e ."
    pip_packages: list[str] = field(default_factory=lambda: ["pytest"])
    notes: list[str] = field(default_factory=list)


def guess(repo: Path) -> Guess:
    """What a person would guess of the repository's name, install and test needs."""
    project = _pyproject(repo).get("project", {})
    found = Guess(name=str(project.get("name") or repo.resolve().name))
    packaged = any((repo / name).is_file() for name in ("pyproject.toml", "setup.py", "setup.cfg"))
    extras = [e for e in TEST_EXTRAS if e in project.get("optional-dependencies", {})]
    if extras:
        found.install = f"pip install -e '.[{extras[0]}]'"
        found.notes.append(f"the test extra [{extras[0]}] of pyproject.toml")
    elif not packaged:
        found.install = "true"
        found.notes.append("no packaging metadata: the tests import the repository from its root")
    if (repo / "requirements.txt").is_file():
        found.pre_install.append("pip install -r requirements.txt")
    found.pre_install += [f"pip install -r {r}" for r in TEST_REQUIREMENTS if (repo / r).is_file()]
    configuration = _pytest_configuration(repo)
    found.pip_packages += [p for o, p in PLUGIN_OPTIONS.items() if o in configuration]
    return found


def _pyproject(repo: Path) -> dict[str, Any]:
    try:
        return tomllib.loads((repo / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return {}


def _pytest_configuration(repo: Path) -> str:
    """The text of the files where pytest options live, with spaces after options kept."""
    texts = []
    for name in ("pytest.ini", "tox.ini", "setup.cfg", "pyproject.toml"):
        path = repo / name
        if path.is_file():
            texts.append(path.read_text(encoding="utf-8", errors="replace"))
    return "\n".join(texts) + "\n"


def spec_text(repo: Path, out: Path) -> str:
    """The commented TOML of one spec for ``repo``, as written next to ``out``."""
    found = guess(repo)
    table = "SPECS_" + re.sub(r"\W", "_", found.name).upper()
    where = os.path.relpath(repo.resolve(), out.resolve().parent)
    notes = "".join(f"# guessed from {note}\n" for note in found.notes)
    return f"""# A featurebench spec, written by `fbench init`: check the guesses, then run
#   fbench build-cases --config-path {out.name}
# Every key is in specs/REFERENCE.md (type, default, meaning).
{notes}
[{table}]
# A local path (relative to this file), owner/name, a git URL or pypi:NAME==VERSION.
repository = {json.dumps(where)}
# commit = "main"                 # default: the checked-out head
python_version = "3.11"
# Shell commands run in the repository before `install`.
pre_install = {json.dumps(found.pre_install)}
install = {json.dumps(found.install)}
# Installed beside the project; pytest itself, and plugins its configuration uses.
pip_packages = {json.dumps(found.pip_packages)}
test_cmd = ["pytest", "-q", "-p", "no:cacheprovider"]
timeout_run = 600                 # seconds per test file
library_name = {json.dumps(found.name)}
# The size of a feature, in lines of code removed.
max_code_line_lower_bound = 50
max_code_line_upper_bound = 500
"""


def write_spec(repo: Path, out: Path, force: bool = False) -> Path:
    """Write the spec to ``out``, refusing to replace a file unless ``force``."""
    if not repo.is_dir():
        raise UsageError(f"{repo}: not a directory; give the path of a repository")
    if out.exists() and not force:
        raise UsageError(f"{out}: exists; pass --force to replace it, or give another -o")
    text = spec_text(repo, out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staged = out.with_name(f".{out.name}.check.toml")
    write_atomic(staged, text.encode())
    try:
        load_specs(staged)  # never put a spec in place that build-cases would refuse
    finally:
        staged.unlink(missing_ok=True)
    write_atomic(out, text.encode())
    return out
