"""A complete local environment says when it no longer serves the checkout it is given."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from orchestrator.environments.binding import MARKER
from orchestrator.environments.local import LocalEnvironment
from orchestrator.pipeline.specs import RepoSpec
from tests.support.gitrepos import commit_files, setuptools_pyproject


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[LocalEnvironment, Path]:
    root = tmp_path_factory.mktemp("stale")
    repo = root / "repos" / "tiny"
    files = {"pyproject.toml": setuptools_pyproject("tiny"), "tiny/__init__.py": "X = 1\n"}
    commit_files(repo, files, "tiny", 1_700_000_000)
    env = LocalEnvironment("tiny-stale", RepoSpec(repository=str(repo)), root / "cache")
    env.create(root / "install.log")
    env.install(repo, root / "install.log")
    return env, repo


def test_the_checkout_it_was_installed_from_is_served(
    made: tuple[LocalEnvironment, Path],
) -> None:
    env, repo = made
    assert env.stale(repo) is None


def test_another_checkout_is_not(made: tuple[LocalEnvironment, Path], tmp_path: Path) -> None:
    env, repo = made
    moved = tmp_path / "tiny"
    shutil.copytree(repo, moved)
    assert env.stale(moved) == (
        f"it was installed from {repo.resolve()}, and the checkout is now {moved.resolve()}"
    )


def test_an_older_marker_is_judged_by_the_editable_install(
    made: tuple[LocalEnvironment, Path], tmp_path: Path
) -> None:
    """A marker from before the checkout was recorded: the install's own record decides."""
    env, repo = made
    marker = env.root / MARKER
    kept = marker.read_text()
    marker.write_text(env.key + "\n")
    try:
        assert env.stale(repo) is None
        repo.rename(tmp_path / "elsewhere")
        assert env.stale(tmp_path / "elsewhere") == (
            f"the editable install of tiny points at {repo.resolve()}, which is gone"
        )
    finally:
        marker.write_text(kept)
        if (tmp_path / "elsewhere").exists():
            (tmp_path / "elsewhere").rename(repo)
