"""Fixtures of the hostile suite: a small real environment, seen through each sandbox."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from orchestrator.environments.local import LocalEnvironment
from orchestrator.pipeline.specs import RepoSpec
from tests.support.gitrepos import commit_files

KEY = "hostile-tiny"
PROJECT = {"pyproject.toml": '[project]\nname = "tiny"\nversion = "0"\n', "tiny.py": "X = 1\n"}


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[RepoSpec, Path, Path]:
    """The spec, the cache and the checkout of an installed project with pytest."""
    root = tmp_path_factory.mktemp("hostile-env")
    repo = root / "tiny"
    commit_files(repo, PROJECT, "tiny", 1_700_000_000)
    spec = RepoSpec(repository=str(repo), pip_packages=["pytest"])
    env = LocalEnvironment(KEY, spec, root / "cache")
    env.create(root / "create.log")
    env.install(repo, root / "install.log")
    return spec, root / "cache", repo


def path_without(folder: Path, *hidden: str) -> str:
    """A PATH (one folder of links) with every program of this one except ``hidden``."""
    folder.mkdir(parents=True, exist_ok=True)
    for directory in os.environ["PATH"].split(os.pathsep):
        if not os.path.isdir(directory):
            continue
        for entry in os.scandir(directory):
            target = folder / entry.name
            if entry.name not in hidden and not target.exists():
                target.symlink_to(entry.path)
    return str(folder)


@pytest.fixture(scope="session")
def path_without_bwrap(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A machine without bubblewrap."""
    return path_without(tmp_path_factory.mktemp("no-bwrap-bin"), "bwrap")


@pytest.fixture(scope="session")
def path_without_namespaces(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A machine with neither bubblewrap nor unshare."""
    return path_without(tmp_path_factory.mktemp("no-ns-bin"), "bwrap", "unshare")


@pytest.fixture(params=["bwrap", "unshare"])
def environment(
    request: pytest.FixtureRequest,
    built: tuple[RepoSpec, Path, Path],
    path_without_bwrap: str,
    monkeypatch: pytest.MonkeyPatch,
) -> LocalEnvironment:
    """The environment as a test run sees it: with bubblewrap, and on a machine without it."""
    if request.param == "bwrap" and not shutil.which("bwrap"):
        pytest.skip("bubblewrap is not installed here (apt-get install bubblewrap)")
    if request.param == "unshare":
        monkeypatch.setenv("PATH", path_without_bwrap)
    spec, cache, _ = built
    return LocalEnvironment(KEY, spec, cache)


@pytest.fixture
def work_tree(tmp_path: Path) -> Path:
    """A fresh work tree for one probe: the project's files, written there."""
    tree = tmp_path / "tree"
    for name, text in PROJECT.items():
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_text(text)
    return tree
