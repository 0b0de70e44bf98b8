"""An environment that no longer imports its project is rebuilt, never used or cached.

A ``src/`` layout project, whose tests import it only through the editable install:
- the cache moved (``mv cache-a cache-b``): the environment is rebuilt, the log says
  why, and the run gives the cases the first run gave;
- an install command that leaves the project uninstalled: the run exits 1 with the
  one-line reason, and the scanner stores nothing, so a rerun scans again.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from orchestrator.cli import cli
from tests.support.cli_runs import small_spec
from tests.support.gitrepos import commit_files

PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "shelf"
version = "0.1"

[tool.setuptools]
package-dir = {"" = "src"}
packages = ["shelf"]
"""
FILES = {
    "pyproject.toml": PYPROJECT,
    "src/shelf/__init__.py": "from .books import count_pages, longest\n",
    "src/shelf/books.py": '''\
def count_pages(books):
    """The pages of every book together."""
    total = 0
    for book in books:
        total += book["pages"]
    return total


def longest(books):
    """The title of the book with the most pages."""
    best = max(books, key=lambda book: book["pages"])
    return best["title"]
''',
    "tests/test_books.py": """\
from shelf import count_pages, longest

BOOKS = [{"title": "a", "pages": 10}, {"title": "b", "pages": 30}]


def test_count_pages():
    assert count_pages(BOOKS) == 40


def test_count_pages_empty():
    assert count_pages([]) == 0


def test_longest():
    assert longest(BOOKS) == "b"


def test_longest_one():
    assert longest(BOOKS[:1]) == "a"
""",
    "tests/test_import.py": """\
import shelf


def test_exports():
    assert callable(shelf.count_pages)
""",
}
SPEC = "SPECS_SHELF"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("shelf") / "shelf"
    commit_files(path, FILES, "shelf", 1_700_000_000)
    return path


def build(work: Path, cache: Path, spec: dict[str, Any], *debug: str) -> Result:
    (work / "specs.py").write_text(f"{SPEC} = {spec!r}\n")
    command = ["build-cases", "--config-path", str(work / "specs.py")]
    command += ["--output-dir", str(work / "out"), "--cache-dir", str(cache)]
    command += [word for option in debug for word in ("--debug", option)]
    return CliRunner().invoke(cli, command, catch_exceptions=False)


def run_dir(result: Result) -> Path:
    assert result.exit_code == 0, result.output
    return Path(result.stdout.strip().splitlines()[-1])


def cases(run: Path) -> dict[str, Any]:
    """Each case's name and what grading it depends on: its tests and its test file."""
    found = {}
    for folder in sorted((run / "cases").glob("*/*")):
        instance = json.loads((folder / "instance.json").read_text())
        found[folder.name] = {k: instance[k] for k in ("FAIL_TO_PASS", "PASS_TO_PASS")}
    return found


def test_a_moved_cache_rebuilds_its_environment_and_gives_the_same_cases(
    project: Path, tmp_path: Path
) -> None:
    first = run_dir(build(tmp_path, tmp_path / "cache-a", small_spec(project)))
    shutil.move(tmp_path / "cache-a", tmp_path / "cache-b")
    # Another scanner timeout: the collection runs again, in the moved environment.
    spec = {**small_spec(project), "timeout_scanner": 301}
    second = run_dir(build(tmp_path, tmp_path / "cache-b", spec))
    assert cases(first), (first / "logs" / "summary.txt").read_text()
    assert cases(second) == cases(first)
    log = (second / "logs" / "fbench.log").read_text()
    rebuilt = [line for line in log.splitlines() if "is rebuilt" in line]
    assert len(rebuilt) == 1, log
    old = (tmp_path / "cache-a" / "repos").resolve()
    assert f"it was installed from {old}/" in rebuilt[0]


def test_an_environment_without_the_project_stops_the_run_and_caches_no_scan(
    project: Path, tmp_path: Path
) -> None:
    spec = {**small_spec(project), "install": "true"}
    cache = tmp_path / "cache"
    for attempt in ("first", "again"):
        result = build(tmp_path, cache, spec, "end=scanner")
        assert result.exit_code == 1, result.output
        reasons = [line for line in result.output.splitlines() if "cannot import" in line]
        assert reasons, f"{attempt}: {result.output}"
        assert "No module named 'shelf'" in reasons[0]
        assert "install" in reasons[0]
        assert not list((cache / "results" / "scanner").rglob("*.json")), attempt
    runs = sorted((tmp_path / "out").glob("*-*-*/*"))
    assert len(runs) == 2
    # The rerun collected again: its own scanner log, not a stored result.
    assert all((run / "logs" / "test_scanner" / f"{SPEC}.log").is_file() for run in runs)
    summary = (runs[-1] / "logs" / "summary.txt").read_text()
    assert "the environment cannot import the library" in summary
