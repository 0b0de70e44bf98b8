"""Units below the file, and imports masking must not break, on the unit project."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from orchestrator.grading.tamper import restored_p2p_files
from tests.orchestrator.unit_project import make_unit_project
from tests.support.caseutil import checked_out, instance, pytest_in_case

SPEC = "SPECS_CALC"
NUMBERS = "tests/test_numbers.py"


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, cache: Path) -> Path:
    work = tmp_path_factory.mktemp("units")
    make_unit_project(work / "calc")
    spec = {
        "repository": str(work / "calc"),
        "pip_packages": ["pytest"],
        "max_code_line_lower_bound": 12,
        "max_code_line_upper_bound": 15,
    }
    (work / "specs.py").write_text(f"{SPEC} = {spec!r}\n")
    command = ["build-cases", "--config-path", str(work / "specs.py")]
    command += ["--output-dir", str(work / "out"), "--cache-dir", str(cache)]
    result = CliRunner().invoke(cli, command, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return sorted((work / "out").glob("[0-9]*/*"))[-1]


def metadata(run: Path, name: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads((run / "metadata_outputs" / name).read_text())[SPEC]
    return found


def case(run: Path, part: str) -> Path:
    (found,) = [c for c in run.glob("cases/*/*.lv1") if part in c.name]
    return found


def test_a_file_over_the_budget_gives_one_case_per_test_class(run: Path) -> None:
    """The whole file is over the line budget; each class is a unit with its own case."""
    files = metadata(run, "data_status.json")["files"]
    for name in ("TestOrdinal", "TestIntcomma", "TestClamp"):
        assert files[f"{NUMBERS}::{name}"]["status"] == "valid", files[f"{NUMBERS}::{name}"]
        assert files[f"{NUMBERS}::{name}"]["unit"] == name
    everything = [
        json.loads(p.read_text())
        for p in (run / "debug_outputs" / "top_classification").rglob("reasons.json")
    ]
    (numbers,) = [r for r in everything if r["file"] == NUMBERS]
    assert [u["unit"] for u in numbers["units"]] == ["TestClamp", "TestIntcomma", "TestOrdinal"]
    assert numbers["file_unit"].startswith("over the line budget (")
    assert numbers["file_unit"].endswith("> 15); raise max_code_line_upper_bound")


def test_a_class_unit_fails_its_tests_and_keeps_the_others_passing(run: Path) -> None:
    """TestOrdinal's case fails its own tests, and the file's other tests are pass-to-pass."""
    info = instance(case(run, "test_numbers.TestOrdinal."))
    assert info["unit"] == "TestOrdinal"
    assert info["instance_id"].split(".")[-4:-2] == ["test_numbers", "TestOrdinal"]
    assert info["FAIL_TO_PASS"] == [
        f"{NUMBERS}::TestOrdinal::{t}" for t in ("test_first", "test_teens", "test_third")
    ]
    assert f"{NUMBERS}::TestIntcomma::test_million" in info["PASS_TO_PASS"]
    assert info["top_objects"] == ["calc/numbers.py::ordinal"]
    statement = (case(run, "test_numbers.TestOrdinal.") / "problem_statement.md").read_text()
    assert "def ordinal(" in statement
    assert "def intcomma(" not in statement


def test_tests_sharing_an_object_form_one_group(run: Path) -> None:
    """shout's tests cannot go alone (a shout_all test calls shout too): it goes with them."""
    files = metadata(run, "data_status.json")["files"]
    for unit in ("shout-wide", "shout_all", "whisper"):
        assert files[f"tests/test_text.py::{unit}"]["status"] == "valid", unit
    wide = instance(case(run, "test_text.shout-wide."))
    assert wide["FAIL_TO_PASS"] == [
        f"tests/test_text.py::{t}" for t in ("test_shout", "test_shout_all", "test_shout_nothing")
    ]
    assert wide["top_objects"] == ["calc/text.py::shout"]
    assert "tests/test_text.py::test_whisper" in wide["PASS_TO_PASS"]


def test_total_ordering_keeps_an_ordering_dunder_so_the_module_imports(run: Path) -> None:
    """Version.__lt__ is emptied, not removed, so total_ordering still finds it."""
    found = case(run, "test_version.")
    source = (found / "repo" / "calc" / "version.py").read_text()
    assert "def __lt__(self, other):" in source
    assert "return self.parts < other.parts" not in source
    assert "calc/version.py::Version.__lt__" in instance(found)["emptied"]


def test_a_base_class_built_on_at_import_stays(run: Path) -> None:
    """tests/test_wrap.py builds a Wrapped subclass while importing: Wrapped must stay."""
    found = case(run, "test_wrap.")
    source = (found / "repo" / "calc" / "wrap.py").read_text()
    assert "class Wrapped:" in source
    assert "def describe(self):" not in source


def test_cases_resolve_with_gold_and_fail_without(run: Path, cache: Path, tmp_path: Path) -> None:
    """Every case passes with its gold patch and fails with the test patch alone."""
    for found in run.glob("cases/*/*.lv1"):
        info = instance(found)
        gold = checked_out(found, tmp_path / f"{found.name}.gold", "patch.diff", "test_patch.diff")
        tests = [*info["FAIL_TO_PASS"], *info["PASS_TO_PASS"]]
        assert pytest_in_case(cache, found, gold, tests) == 0, found
        bare = checked_out(found, tmp_path / f"{found.name}.bare", "test_patch.diff")
        assert pytest_in_case(cache, found, bare, info["FAIL_TO_PASS"][:1]) != 0, found


def test_a_module_collected_for_its_doctests_is_graded_in_place(run: Path) -> None:
    """calc/numbers.py has doctests but is library code: never a fail-to-pass file. Its
    doctest joins PASS_TO_PASS where no removed object is reached, and eval never puts
    the module back over an agent's edits."""
    files = metadata(run, "files_status.json")["files"]
    assert files["calc/numbers.py"]["doctest_module"] is True
    assert not files["calc/numbers.py"]["f2p_candidate"]
    assert files["calc/numbers.py"]["p2p_candidate"]
    graded = 0
    for found in run.glob("cases/*/*.lv1"):
        info = instance(found)
        assert "calc/numbers.py" not in restored_p2p_files(info)
        doctest = "calc/numbers.py::calc.numbers.ordinal" in info["PASS_TO_PASS"]
        assert doctest == ("calc/numbers.py" in info["p2p_files"]), info["p2p_files"]
        assert not doctest or "calc/numbers.py::ordinal" not in info["top_objects"]
        graded += doctest
    assert graded, "no case grades the doctest of calc/numbers.py"


def test_same_stem_test_files_are_traced_apart(run: Path) -> None:
    """tests/tests.py and tests/tests.md each get their own trace records."""
    logs = run / "logs" / "dynamic_trace" / SPEC
    assert (logs / "tests_tests.py.jsonl").exists()
    assert (logs / "tests_tests.md.jsonl").exists()
    status = metadata(run, "data_status.json")["files"]
    for path in ("tests/tests.py", "tests/tests.md"):
        assert status[path]["stage"] == "top", status[path]


def test_a_file_whose_outcomes_change_under_tracing_is_not_used(run: Path) -> None:
    """A test that fails only when traced drops its file at dynamic, named in the reason."""
    dropped = metadata(run, "data_status.json")["files"]["tests/test_untraced.py"]
    assert dropped["stage"] == "dynamic"
    assert dropped["reason"].startswith(
        "tracing changed outcomes: tests/test_untraced.py::test_not_traced: passed -> failed"
    )
    for found in run.glob("cases/*/*.lv1"):
        assert "tests/test_untraced.py" not in instance(found)["p2p_files"]
