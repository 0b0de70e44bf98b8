"""``fbench build-cases --backend local`` through the data stage, on the feature project.

Every exported case is checked from the outside, with git and the case's own
environment: the gold patch makes its tests pass, the test patch alone does
not, and neither the case repository nor the environment holds removed code.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from orchestrator.extract.leaks import scan_repository
from tests.orchestrator.feature_project import FILES, make_feature_project
from tests.support.caseutil import checked_out, instance, pytest_in_case, removed_marks

SPEC = "SPECS_GEOM"
GOLDEN = Path(__file__).parent.parent / "golden"


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


def build(work: Path, cache: Path, *args: str) -> Path:
    repository = work / "geom"
    if not repository.exists():
        make_feature_project(repository)
    spec = {
        "repository": str(repository),
        "pip_packages": ["pytest"],
        "test_cmd": ["pytest", "-q", "-p", "no:cacheprovider"],
        "max_code_line_lower_bound": 30,
        "max_code_line_upper_bound": 40,
        "library_name": "geom",
        "black_links": ["https://example.org/geom"],
    }
    (work / "specs.py").write_text(f"{SPEC} = {spec!r}\n")
    command = ["build-cases", "--config-path", str(work / "specs.py")]
    command += ["--output-dir", str(work / "out"), "--cache-dir", str(cache), *args]
    result = CliRunner().invoke(cli, command, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return sorted((work / "out").glob("*/*"))[-1]


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="module")
def run(work: Path, cache: Path) -> Path:
    return build(work, cache)


def status(run: Path) -> dict[str, Any]:
    entry: dict[str, Any] = json.loads((run / "metadata_outputs" / "data_status.json").read_text())[
        SPEC
    ]
    return entry


def cases(run: Path, level: int) -> list[Path]:
    return sorted(run.glob(f"cases/*/*.lv{level}"))


def test_valid_cases_come_out_of_the_function_and_the_class_module(run: Path) -> None:
    files = status(run)["files"]
    assert files["tests/test_textutil.py"]["status"] == "valid", files["tests/test_textutil.py"]
    assert files["tests/test_polygon.py"]["status"] == "valid", files["tests/test_polygon.py"]
    assert status(run)["cases"] == len(cases(run, 1)) + len(cases(run, 2))
    for case in cases(run, 1):
        names = {p.name for p in case.iterdir()}
        assert names == {
            "config.yaml",
            "instance.json",
            "patch.diff",
            "problem_statement.md",
            "test_patch.diff",
            "repo",
        }
    for case in cases(run, 2):
        assert not (case / "patch.diff").exists()


def test_bisection_keeps_what_a_pass_to_pass_file_needs(run: Path) -> None:
    """test_round.py needs _normalize unseen: the textutil case keeps it, and says so."""
    textutil = status(run)["files"]["tests/test_textutil.py"]
    assert "kept geom/textutil.py::_normalize: tests/test_round.py need it" in textutil["notes"]
    (case,) = [c for c in cases(run, 1) if "test_textutil" in c.name]
    assert "geom/textutil.py::_normalize" not in instance(case)["functions"]
    assert "def _normalize(text):" in (case / "repo" / "geom" / "textutil.py").read_text()


def test_every_dropped_candidate_has_a_stage_and_a_reason(run: Path) -> None:
    for path, info in status(run)["files"].items():
        if info["status"] == "dropped":
            assert info["stage"], path
            assert info["reason"], path


def test_gold_patch_passes_and_the_test_patch_alone_fails(
    run: Path, cache: Path, tmp_path: Path
) -> None:
    for case in cases(run, 1):
        info = instance(case)
        assert info["FAIL_TO_PASS"], case
        gold = checked_out(case, tmp_path / f"{case.name}.gold", "patch.diff", "test_patch.diff")
        tests = [*info["FAIL_TO_PASS"], *info["PASS_TO_PASS"]]
        assert pytest_in_case(cache, case, gold, tests) == 0, case
        bare = checked_out(case, tmp_path / f"{case.name}.bare", "test_patch.diff")
        for nodeid in info["FAIL_TO_PASS"]:
            assert pytest_in_case(cache, case, bare, [nodeid]) != 0, nodeid


def test_level2_tests_import_agent_code_and_fail_against_an_empty_one(
    run: Path, cache: Path, tmp_path: Path
) -> None:
    (case,) = [c for c in cases(run, 2) if "test_textutil" in c.name]
    tree = checked_out(case, tmp_path / "lv2", "test_patch.diff")
    test_file = (tree / "tests" / "test_textutil.py").read_text()
    assert "from agent_code import slugify" in test_file
    assert "from agent_code import wrap_words as wrap_text" in test_file or (
        "from agent_code import wrap as wrap_text" in test_file
    )
    (tree / "agent_code").mkdir()
    (tree / "agent_code" / "__init__.py").write_text("")
    assert pytest_in_case(cache, case, tree, instance(case)["FAIL_TO_PASS"]) != 0


def test_no_case_repository_holds_removed_code(run: Path, tmp_path: Path) -> None:
    for case in cases(run, 1):
        marks = removed_marks(case, FILES)
        assert any(marks.values()), case
        assert scan_repository(case / "repo", marks) == []
        assert not list((case / "repo").rglob("*.pyc"))
        assert not list((case / "repo").rglob("*.egg-info"))
        # The scan does see a removed body when one is planted.
        planted = shutil.copytree(case / "repo", tmp_path / case.name)
        info = instance(case)
        source = FILES[info["files"][0]]
        (planted / "notes.txt").write_text(source)
        assert scan_repository(planted, marks)


def test_case_repository_is_one_fresh_commit(run: Path) -> None:
    from dulwich.repo import Repo

    for case in cases(run, 1):
        with Repo(str(case / "repo")) as repo:
            head = repo[repo.head()]
            assert head.parents == []
            assert head.id.decode() == instance(case)["base_commit"]


def scrub(text: str, run: Path, case: Path) -> str:
    info = instance(case)
    text = text.replace(info["environment"]["key"], "<environment>")
    return text.replace(info["repo"], "<repository>")


@pytest.mark.parametrize(
    "name", ["problem_statement.md", "patch.diff", "test_patch.diff", "instance.json"]
)
def test_golden_files_of_the_textutil_case(run: Path, name: str) -> None:
    (case,) = [c for c in cases(run, 1) if "test_textutil" in c.name]
    text = scrub((case / name).read_text(), run, case)
    golden = GOLDEN / f"textutil.lv1.{name}"
    if os.environ.get("FB_UPDATE_GOLDEN"):
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(text)
    assert text == golden.read_text()


def test_a_rerun_takes_the_cases_from_the_cache(run: Path, work: Path, cache: Path) -> None:
    again = build(work, cache)
    first = {c.name: (c / "instance.json").read_text() for c in run.glob("cases/*/*")}
    second = {c.name: (c / "instance.json").read_text() for c in again.glob("cases/*/*")}
    assert first.keys() == second.keys()
    summary = json.loads((again / "metadata_outputs" / "summary.json").read_text())
    assert summary["stages"]["data"]["cached"] == summary["stages"]["data"]["items"]


def test_a_run_killed_in_the_data_stage_resumes_to_the_same_cases(
    run: Path, work: Path, tmp_path: Path
) -> None:
    """SIGKILL once a case is validated; --resume writes every case, none half-written."""
    import signal

    from tests.orchestrator.pipeline.test_resume import (
        run_dir,
        start,
        wait_for_no_process_using,
        wait_until,
    )

    out, cache = tmp_path / "out", tmp_path / "cache"
    specs = work / "specs.py"  # the module run's specs: the same repository and keys
    process = start(specs, out, cache, "--debug", "end=data")

    def one_case_validated() -> bool:
        return bool(list(out.glob("*/*/metadata_outputs/journal/results/data/*/*.json")))

    wait_until(one_case_validated, process)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    wait_for_no_process_using(cache)
    resumed_run = run_dir(out)
    resumed = start(specs, out, cache, "--resume", str(resumed_run), "--debug", "end=data")
    assert resumed.wait(timeout=600) == 0, (tmp_path / "stderr.txt").read_text()
    first = {c.name: json.loads((c / "instance.json").read_text()) for c in run.glob("cases/*/*")}
    again = {
        c.name: json.loads((c / "instance.json").read_text()) for c in resumed_run.glob("cases/*/*")
    }
    assert again.keys() == first.keys()
    for name, info in again.items():
        assert info["base_commit"] == first[name]["base_commit"], name
        assert info["FAIL_TO_PASS"] == first[name]["FAIL_TO_PASS"], name
    assert not list(resumed_run.glob("cases/*/.*"))  # no directory left half-built
