"""Checking exported cases from the outside, as a harness would: git and the case's env."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from orchestrator.extract.leaks import distinctive_lines
from orchestrator.extract.masking import locate


def instance(case: Path) -> dict[str, Any]:
    found: dict[str, Any] = json.loads((case / "instance.json").read_text())
    return found


def checked_out(case: Path, into: Path, *patches: str) -> Path:
    """A copy of the case repository with ``patches`` of the case applied by git."""
    shutil.copytree(case / "repo", into)
    for name in patches:
        subprocess.run(["git", "apply", str(case / name)], cwd=into, check=True)
    return into


def pytest_in_case(cache: Path, case: Path, tree: Path, tests: list[str]) -> int:
    """Run ``tests`` in ``tree`` with the case's local environment; pytest's exit code."""
    info = instance(case)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tree)}
    env["PYTHONPATH"] = os.pathsep.join(str(tree / d) for d in info["environment"]["pythonpath"])
    python = cache / "envs" / info["environment"]["key"] / "venv" / "bin" / "python"
    command = [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests]
    return subprocess.run(command, cwd=tree, env=env, capture_output=True, check=False).returncode


def removed_marks(case: Path, sources: dict[str, str]) -> dict[str, list[str]]:
    """The leak scan's marks for what the case removed, from the original ``sources``."""
    removed = []
    for key in instance(case)["functions"]:
        path, qualname = key.split("::")
        found = locate(sources[path], qualname, path)
        assert found is not None, key
        removed.append(found)
    kept = [p.read_text() for p in (case / "repo").rglob("*.py")]
    return distinctive_lines(removed, kept)
