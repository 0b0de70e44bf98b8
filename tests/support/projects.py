"""Small projects written to disk, and a real local environment with one installed."""

from __future__ import annotations

from pathlib import Path

from orchestrator.environments.local import LocalEnvironment
from orchestrator.pipeline.specs import RepoSpec


def write_tree(root: Path, files: dict[str, str]) -> Path:
    """``files`` (path -> text) under ``root``; returns ``root``."""
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def installed_environment(tree: Path, work: Path, key: str) -> LocalEnvironment:
    """A uv virtualenv under ``work`` with pytest and the project at ``tree`` installed."""
    spec = RepoSpec(repository=str(tree), pip_packages=["pytest"])
    env = LocalEnvironment(key, spec, work / "cache")
    env.create(work / f"{key}.log")
    env.install(tree, work / f"{key}.log")
    return env
