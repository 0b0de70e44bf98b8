"""The data stage recovers cases that traces alone would lose, on the yield project."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from tests.orchestrator.yield_project import make_yield_project
from tests.support.caseutil import checked_out, instance, pytest_in_case

SPEC = "SPECS_SHAPES"
REGISTRY = "tests/test_registry.py"
WORDS = "tests/test_words.py"


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, cache: Path) -> Path:
    work = tmp_path_factory.mktemp("yield")
    make_yield_project(work / "shapes")
    spec = {
        "repository": str(work / "shapes"),
        "pip_packages": ["pytest"],
        "min_test_num": 3,
        "max_code_line_lower_bound": 4,
        "max_code_line_upper_bound": 8,
        "stability_runs": 0,
    }
    (work / "specs.py").write_text(f"{SPEC} = {spec!r}\n")
    command = ["build-cases", "--config-path", str(work / "specs.py")]
    command += ["--output-dir", str(work / "out"), "--cache-dir", str(cache)]
    result = CliRunner().invoke(cli, command, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return Path(result.stdout.strip().splitlines()[-1])


def status(run: Path) -> dict[str, Any]:
    found: dict[str, Any] = json.loads((run / "metadata_outputs" / "data_status.json").read_text())
    return found[SPEC]["files"]


def case(run: Path, part: str) -> Path:
    (found,) = [c for c in run.glob("cases/*/*.lv1") if part in c.name]
    return found


def test_what_the_files_other_tests_name_unseen_is_emptied_not_removed(run: Path) -> None:
    """names() looks area up without calling it: area's case empties it, and says so."""
    row = status(run)[f"{REGISTRY}::area"]
    assert row["status"] == "valid", row
    assert any(
        note.startswith("emptied shapes/registry.py::area instead of removing it:")
        for note in row["notes"]
    ), row["notes"]
    found = case(run, "test_registry.area.")
    info = instance(found)
    assert info["emptied"] == ["shapes/registry.py::area"]
    assert sorted(info["FAIL_TO_PASS"]) == [
        f"{REGISTRY}::test_area",
        f"{REGISTRY}::test_area_fraction",
        f"{REGISTRY}::test_area_negative",
    ]
    assert f"{REGISTRY}::test_names" in info["PASS_TO_PASS"]
    source = (found / "repo" / "shapes" / "registry.py").read_text()
    assert "def area(width, height):" in source
    assert "product = width * height" not in source
    statement = (found / "problem_statement.md").read_text()
    assert "def area(width, height):" in statement


def test_a_class_whose_function_others_build_on_takes_their_tests_in(run: Path) -> None:
    """initials calls capital: TestCapital's unit takes in TestInitials' tests that reach it
    (not test_none: initials("") calls nothing)."""
    files = status(run)
    row = files[f"{WORDS}::TestCapital-wide"]
    assert row["status"] == "valid", row
    assert f"{WORDS}::TestCapital" not in files
    assert files[f"{WORDS}::TestInitials"]["status"] == "valid"
    info = instance(case(run, "test_words.TestCapital-wide."))
    assert info["unit"] == "TestCapital-wide"
    assert sorted(info["FAIL_TO_PASS"]) == sorted(
        f"{WORDS}::{cls}::{test}"
        for cls, tests in (
            ("TestCapital", ("test_lower", "test_upper", "test_empty")),
            ("TestInitials", ("test_two", "test_one")),
        )
        for test in tests
    )
    assert f"{WORDS}::TestReverse::test_two" in info["PASS_TO_PASS"]
    assert "shapes/words.py::capital" in info["top_objects"]


def test_cases_resolve_with_gold_and_fail_without(run: Path, cache: Path, tmp_path: Path) -> None:
    for found in run.glob("cases/*/*.lv1"):
        info = instance(found)
        assert info["statement_faithful_gold"] == "passed"
        gold = checked_out(found, tmp_path / f"{found.name}.gold", "patch.diff", "test_patch.diff")
        tests = [*info["FAIL_TO_PASS"], *info["PASS_TO_PASS"]]
        assert pytest_in_case(cache, found, gold, tests) == 0, found
        bare = checked_out(found, tmp_path / f"{found.name}.bare", "test_patch.diff")
        assert pytest_in_case(cache, found, bare, info["FAIL_TO_PASS"]) != 0, found
