"""Small real git repositories that tests build on disk, with dulwich (no git binary)."""

from __future__ import annotations

from pathlib import Path

from dulwich.repo import Repo

from orchestrator.pipeline.repos import commit_paths

AUTHOR = b"Test Author <test@example.org>"


def commit_files(path: Path, files: dict[str, str], message: str, when: int) -> str:
    """Write ``files`` into the repository at ``path`` (made if needed) and commit them."""
    path.mkdir(parents=True, exist_ok=True)
    if not (path / ".git").is_dir():
        Repo.init(str(path)).close()
    for name, text in files.items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return commit_paths(path, [path / name for name in files], message, AUTHOR, when)


def setuptools_pyproject(package: str, tail: str = "") -> str:
    """A ``pyproject.toml`` that installs one flat-layout package with setuptools;
    ``tail`` adds tables after it (pytest options, say)."""
    return f"""\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "{package}"
version = "0.1"

[tool.setuptools]
packages = ["{package}"]
{tail}"""
