"""python_version finds installed interpreters, and names what it searched when none fits."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from orchestrator.environments.interpreters import find_interpreter
from orchestrator.environments.local import LocalEnvironment
from orchestrator.errors import StageError
from orchestrator.pipeline.specs import RepoSpec
from tests.support.interpreters import build_cpython


def version_of(python: Path | str) -> str:
    done = subprocess.run(
        [str(python), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def test_an_installed_313_makes_the_environment(tmp_path: Path) -> None:
    """A 3.13 installed here (built by the suite if need be) is found; the virtualenv runs it."""
    build_cpython("3.13")
    assert version_of(find_interpreter("3.13")) == "3.13"
    env = LocalEnvironment("py313", RepoSpec(repository=".", python_version="3.13"), tmp_path)
    env.create(tmp_path / "create.log")
    assert version_of(env.python) == "3.13"


def test_no_such_version_names_what_was_searched(monkeypatch: pytest.MonkeyPatch) -> None:
    """The error lists PATH, pyenv's and featurebench's folders, and how to install one."""
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    with pytest.raises(StageError) as caught:
        find_interpreter("3.99")
    message = str(caught.value)
    assert "python_version '3.99': no such interpreter installed" in message
    assert "PATH (/usr/bin:/bin)" in message
    assert ".pyenv/versions" in message
    assert "uv python install 3.99" in message


def test_a_prefix_is_not_a_version() -> None:
    """3.1 is not 3.13: a version matches whole components only."""
    with pytest.raises(StageError):
        find_interpreter("3.1")
