"""Getting repositories with dulwich: every form of ``repository``, commits, reuse."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from orchestrator.errors import StageError
from orchestrator.pipeline.repos import checkout_spec, head_commit, source_location
from orchestrator.pipeline.specs import RepoSpec
from tests.support.gitrepos import commit_files


@pytest.fixture
def origin(tmp_path: Path) -> tuple[Path, list[str]]:
    path = tmp_path / "origin" / "lib"
    first = commit_files(path, {"lib.py": "VERSION = 1\n"}, "one", when=1_600_000_000)
    second = commit_files(path, {"lib.py": "VERSION = 2\n"}, "two", when=1_700_000_000)
    return path, [first, second]


@pytest.mark.parametrize(
    ("repository", "method", "expected"),
    [
        ("psf/black", "https", ("https://github.com/psf/black.git", "psf__black")),
        ("psf/black", "ssh", ("git@github.com:psf/black.git", "psf__black")),
        (
            "https://example.org/group/tool.git",
            "https",
            ("https://example.org/group/tool.git", "group__tool"),
        ),
        (
            "git@example.org:group/tool.git",
            "https",
            ("git@example.org:group/tool.git", "group__tool"),
        ),
    ],
)
def test_remote_forms_map_to_a_url_and_a_directory_name(
    repository: str, method: str, expected: tuple[str, str], tmp_path: Path
) -> None:
    """owner/name uses clone_method and base_url; full URLs are used as they are."""
    spec = RepoSpec(repository=repository, clone_method=method)  # type: ignore[arg-type]
    assert source_location(spec, tmp_path) == expected


def test_a_local_path_and_a_file_url_clone_and_check_out(
    origin: tuple[Path, list[str]], tmp_path: Path
) -> None:
    """A path, or a file:// URL, is cloned; no commit means HEAD."""
    path, commits = origin
    for repository, repos in ((str(path), "a"), (f"file://{path}", "b")):
        checkout = checkout_spec(
            RepoSpec(repository=repository), tmp_path / repos, tmp_path, tmp_path / "sdists"
        )
        assert checkout.commit == commits[1]
        assert (checkout.path / "lib.py").read_text() == "VERSION = 2\n"


def test_a_pinned_commit_is_checked_out_and_a_matching_clone_reused(
    origin: tuple[Path, list[str]], tmp_path: Path
) -> None:
    """An older (short) sha checks out that tree; asking again leaves the clone alone."""
    path, commits = origin
    spec = RepoSpec(repository=str(path), commit=commits[0][:10])
    checkout = checkout_spec(spec, tmp_path / "repos", tmp_path, tmp_path / "sdists")
    assert checkout.commit == commits[0]
    assert (checkout.path / "lib.py").read_text() == "VERSION = 1\n"
    marker = checkout.path / "untracked.txt"
    marker.write_text("kept")  # a reused work tree is not reset
    again = checkout_spec(spec, tmp_path / "repos", tmp_path, tmp_path / "sdists")
    assert again.commit == commits[0]
    assert marker.exists()
    assert head_commit(again.path) == commits[0]


def test_an_unknown_commit_is_a_clear_error(origin: tuple[Path, list[str]], tmp_path: Path) -> None:
    spec = RepoSpec(repository=str(origin[0]), commit="no-such-tag")
    with pytest.raises(StageError, match="no commit, tag or branch 'no-such-tag'"):
        checkout_spec(spec, tmp_path / "repos", tmp_path, tmp_path / "sdists")


def test_a_local_repository_without_commit_is_refreshed(
    origin: tuple[Path, list[str]], tmp_path: Path
) -> None:
    """No ``commit`` means the source's HEAD now: a new commit there is seen by the next run."""
    path, commits = origin
    spec = RepoSpec(repository=str(path))
    first = checkout_spec(spec, tmp_path / "repos", tmp_path, tmp_path / "sdists")
    assert first.commit == commits[1]
    third = commit_files(path, {"lib.py": "VERSION = 3\n"}, "three", when=1_750_000_000)
    again = checkout_spec(spec, tmp_path / "repos", tmp_path, tmp_path / "sdists")
    assert again.commit == third
    assert (again.path / "lib.py").read_text() == "VERSION = 3\n"


def test_a_local_path_gets_an_owner__name_slug(
    origin: tuple[Path, list[str]], tmp_path: Path
) -> None:
    """Its origin remote's owner and name, else local__<directory>: ids keep one form."""
    path, _ = origin
    assert source_location(RepoSpec(repository=str(path)), tmp_path)[1] == "local__lib"
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(path), str(clone)], check=True)
    url = "git@github.com:someone/lib-fork.git"
    subprocess.run(["git", "remote", "set-url", "origin", url], cwd=clone, check=True)
    assert source_location(RepoSpec(repository=str(clone)), tmp_path)[1] == "someone__lib-fork"
