"""build-cases does not exit 0 when a spec could run nothing: the issue's remaining cases.

A ``test_cmd`` that is not pytest, and a collection that crashes, leave no
item that could run; the spec stops with why, once, and the exit is 1.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.orchestrator.cli.test_build_cases_exits import PROJECT, build
from tests.support.gitrepos import commit_files

CRASHING_CONFTEST = "raise RuntimeError('conftest blew up')\n"


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


def project(folder: Path, **extra: str) -> Path:
    commit_files(folder, {**PROJECT, **extra}, "tiny project", when=1_700_000_000)
    return folder


def assert_stopped(stderr: str, why: str) -> None:
    lines = stderr.strip().splitlines()
    assert lines[-1].startswith("fbench: error: 1 spec(s) stopped (SPECS_TINY)"), stderr
    assert stderr.count(why) == 1, stderr
    for internal in ("StageError", "CommandError", "FbenchError", "Traceback"):
        assert internal not in stderr


def test_a_test_cmd_that_is_not_pytest_exits_1(cache: Path, tmp_path: Path) -> None:
    repository = project(tmp_path / "tiny")
    spec: dict[str, object] = {"repository": str(repository), "pip_packages": ["pytest"]}
    spec["test_cmd"] = ["python", "-m", "unittest"]
    result = build(tmp_path, cache, spec, end="runner")
    assert result.exit_code == 1, result.stderr
    assert_stopped(result.stderr, "no item could run")


def test_a_collection_that_crashes_exits_1(cache: Path, tmp_path: Path) -> None:
    repository = project(tmp_path / "tiny", **{"conftest.py": CRASHING_CONFTEST})
    spec: dict[str, object] = {"repository": str(repository), "pip_packages": ["pytest"]}
    result = build(tmp_path, cache, spec, end="runner")
    assert result.exit_code == 1, result.stderr
    assert "conftest blew up" in result.stderr


@pytest.mark.network
def test_a_pypi_release_that_does_not_exist_exits_1_and_leaves_no_run(
    cache: Path, tmp_path: Path
) -> None:
    result = build(tmp_path, cache, {"repository": "pypi:cachetools==999.0.0"})
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.endswith(
        "fbench: error: nothing was run:\n"
        "  SPECS_TINY: repo: pypi:cachetools==999.0.0: PyPI has no sdist of that version\n"
    ), result.stderr
    assert not list((tmp_path / "out").glob("*/*"))
