"""Only a collection where no test file can import the project itself is the environment's
failure; a file's own missing dependency, or a missing submodule, stays the tests' data."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.pipeline.own_imports import own_packages, unimportable_library
from tests.support.gitrepos import commit_files


def missing(name: str, file: str) -> str:
    """A collection error as pytest words it, ending in the import that failed."""
    return (
        f"ImportError while importing test module '/repo/{file}'.\nTraceback:\n"
        f"{file}:1: in <module>\n    import {name}\nE   ModuleNotFoundError: No module named"
        f" '{name}'"
    )


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("own") / "repo"
    files = {
        "src/shelf/__init__.py": "",
        "src/shelf/books.py": "",
        "flat.py": "",
        "setup.py": "",
        "tests/conftest.py": "",
        "tests/helpers.py": "",
        "tests/test_a.py": "",
        "tests/test_b.py": "",
    }
    commit_files(path, files, "repo", 1_700_000_000)
    return path


def errors_for(name: str) -> dict[str, str]:
    return {file: missing(name, file) for file in ("tests/test_a.py", "tests/test_b.py")}


def test_the_own_packages_are_the_importable_ones_apart_from_tests_and_scripts(repo: Path) -> None:
    assert own_packages(repo) == {"shelf", "flat"}


@pytest.mark.parametrize("name", ["shelf", "flat"])
def test_every_file_missing_the_project_is_the_environments_failure(repo: Path, name: str) -> None:
    reason = unimportable_library(set(), errors_for(name), repo)
    assert reason is not None
    assert f"No module named '{name}'" in reason
    assert "all 2 test files" in reason
    assert "tests/test_a.py" in reason
    assert "\n" not in reason


@pytest.mark.parametrize(
    "name",
    [
        "yaml_not_installed_here",  # an optional dependency of the tests
        "shelf._speedups",  # a submodule: the package itself imports
        "conftest",  # the tests' own layout, not the project
        "helpers",
    ],
)
def test_other_missing_modules_stay_data(repo: Path, name: str) -> None:
    assert unimportable_library(set(), errors_for(name), repo) is None


def test_a_file_that_collected_keeps_the_errors_as_data(repo: Path) -> None:
    assert unimportable_library({"tests/test_c.py"}, errors_for("shelf"), repo) is None


def test_files_missing_different_modules_stay_data(repo: Path) -> None:
    errors = {**errors_for("shelf"), "tests/test_b.py": missing("numpy", "tests/test_b.py")}
    assert unimportable_library(set(), errors, repo) is None


def test_no_errors_is_no_failure(repo: Path) -> None:
    assert unimportable_library(set(), {}, repo) is None
