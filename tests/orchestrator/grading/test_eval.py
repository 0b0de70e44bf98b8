"""``fbench eval`` on the feature project's cases: real patches, real test runs, strict grades.

The run is built once per module with the local backend; every evaluation
goes through the command line, as a user would run it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from orchestrator.extract.cases import diff_files
from tests.orchestrator.feature_project import make_feature_project
from tests.support.caseutil import checked_out, instance, pytest_in_case

SPEC = {
    "pip_packages": ["pytest"],
    "test_cmd": ["pytest", "-q", "-p", "no:cacheprovider"],
    "max_code_line_lower_bound": 30,
    "max_code_line_upper_bound": 40,
    "library_name": "geom",
}


def build_feature_run(
    work: Path, cache: Path, spec: dict[str, Any] = SPEC, output: str = "out"
) -> Path:
    """``fbench build-cases`` of the feature project; returns the run directory."""
    repository = work / "geom"
    make_feature_project(repository)
    (work / "specs.py").write_text(
        f"SPECS_GEOM = {{'repository': {str(repository)!r}, **{spec!r}}}\n"
    )
    command = ["build-cases", "--config-path", str(work / "specs.py"), "--jobs", "4"]
    command += ["--output-dir", str(work / output), "--cache-dir", str(cache)]
    result = CliRunner().invoke(cli, command, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    (run,) = (work / output).glob("[0-9]*/*")
    return run


def shared_cache(factory: pytest.TempPathFactory) -> Path:
    """One cache for the session's modules: the environment is built once."""
    cache = factory.getbasetemp() / "feature-cache"
    cache.mkdir(exist_ok=True)
    return cache


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared_cache(tmp_path_factory)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, cache: Path) -> Path:
    return build_feature_run(tmp_path_factory.mktemp("eval"), cache)


def fbench_eval(
    run: Path, cache: Path, predictions: str, *extra: str, out: str = ""
) -> dict[str, Any]:
    """Run ``fbench eval``; returns the reports written, by model."""
    root = run.parent.parent if run.name == "cases" else run.parent
    out = str(root / (out or f"reports-{Path(predictions).name}"))
    command = ["eval", "--cases", str(run), "--predictions", predictions, "--jobs", "4"]
    command += ["--cache-dir", str(cache), "--report", out, *extra]
    result = CliRunner().invoke(cli, command, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    reports = {}
    for path in Path(out).glob("*/report.json"):
        data = json.loads(path.read_text())
        assert (path.parent / "report.md").is_file()
        reports[data["model"]] = data
    return reports


def case_dir(run: Path, test: str, level: int) -> Path:
    (found,) = run.glob(f"cases/*/{test}.*.lv{level}")
    return found


def all_f2p(run: Path) -> int:
    return sum(len(instance(c)["FAIL_TO_PASS"]) for c in run.glob("cases/*/*"))


def test_gold_resolves_every_case_both_levels(run: Path, cache: Path) -> None:
    """Level 1 gold is patch.diff; level 2 gold adds an agent_code that re-exports."""
    report = fbench_eval(run, cache, "gold")["gold"]
    assert report["total_instances"] == 7
    assert report["resolved_instances"] == 7, report["instances"]
    assert report["resolved_rate"] == 1.0
    assert report["pass_rate"] == 1.0
    assert report["f2p_passed"] == all_f2p(run)
    assert report["missing"] == {}
    md = (run.parent / "reports-gold" / "gold" / "report.md").read_text()
    assert "| resolved rate | 7 of 7 (100.0%) |" in md


def test_empty_patch_resolves_none_and_is_not_an_error(run: Path, cache: Path) -> None:
    report = fbench_eval(run, cache, "empty")["empty"]
    assert report["resolved_instances"] == 0
    assert report["pass_rate"] == 0.0
    assert report["counts"]["unresolved"] == 7, report["instances"]
    for row in report["instances"].values():
        # The P2P tests still ran although the F2P file does not import (a P2P test of
        # the F2P file itself, like test_round's test_text_helpers_exist, cannot pass).
        assert row["p2p_total"] >= row["p2p_passed"] >= row["p2p_total"] - 1 > 0, row
        assert "did not pass" in row["reason"]


def partial_patch(run: Path, tmp_path: Path) -> str:
    """Textutil's gold with wrap_words left emptied: slugify's three tests pass, test_wrap not."""
    case = case_dir(run, "test_textutil", 1)
    tree = checked_out(case, tmp_path / "partial", "patch.diff")
    restored = (tree / "geom" / "textutil.py").read_text()
    body = "    return textwrap.wrap(text, width=width, break_long_words=False)\n"
    assert body in restored
    changes = {}
    for path, text in (
        ("geom/textutil.py", restored.replace(body, "    raise NotImplementedError\n")),
        ("geom/__init__.py", (tree / "geom" / "__init__.py").read_text()),
    ):
        changes[path] = ((case / "repo" / path).read_text(), text)
    return diff_files(changes)


CHEAT_TESTS = "".join(
    f"def {name}():\n    pass\n\n\n"
    for name in ("test_slug", "test_separator", "test_max_length", "test_wrap")
)
# A hook that turns every failure into a pass: what an agent could add to pass anything.
CHEAT_CONFTEST = """\
import pytest


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    report.outcome = "passed"
    return report
"""


def cheating_patch() -> str:
    return diff_files(
        {"tests/test_textutil.py": (None, CHEAT_TESTS), "conftest.py": (None, CHEAT_CONFTEST)}
    )


def test_cheating_patch_works_only_without_the_restore(
    run: Path, cache: Path, tmp_path: Path
) -> None:
    """The patch makes the tests pass when applied as is, so the restore is what stops it."""
    case = case_dir(run, "test_textutil", 1)
    tree = shutil.copytree(case / "repo", tmp_path / "cheat")
    (tmp_path / "cheat.diff").write_text(cheating_patch())
    subprocess.run(["git", "apply", str(tmp_path / "cheat.diff")], cwd=tree, check=True)
    assert pytest_in_case(cache, case, tree, instance(case)["FAIL_TO_PASS"]) == 0


@pytest.fixture(scope="module")
def graded(run: Path, cache: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One predictions file, several models: partial, cheater, garbage, and unknown ids."""
    textutil = instance(case_dir(run, "test_textutil", 1))["instance_id"]
    polygon = instance(case_dir(run, "test_polygon", 1))["instance_id"]
    polygon2 = instance(case_dir(run, "test_polygon", 2))["instance_id"]
    mismatched = diff_files({"geom/shapes.py": ("class Nothing:\n    pass\n", "class X:\n")})
    rows = [
        ("partial", textutil, partial_patch(run, tmp_path_factory.mktemp("partial"))),
        ("cheater", textutil, cheating_patch()),
        ("garbage", textutil, "this is not a diff\n"),
        ("garbage", polygon, mismatched),
        ("garbage", polygon2, None),
        ("partial", "nobody.00000000.test_x.000000000000.lv1", ""),
    ]
    path = run.parent / "predictions.jsonl"
    with path.open("w") as out:
        for model, iid, patch in rows:
            row = {"instance_id": iid, "model_name_or_path": model, "model_patch": patch}
            out.write(json.dumps(row) + "\n")
    reports = fbench_eval(run, cache, str(path))
    reports["ids"] = {"textutil": textutil, "polygon": polygon, "polygon2": polygon2}
    return reports


def test_partial_patch_gives_the_pass_rate_counted_by_hand(
    run: Path, graded: dict[str, Any]
) -> None:
    report = graded["partial"]
    row = report["instances"][graded["ids"]["textutil"]]
    assert row["status"] == "unresolved"
    assert (row["f2p_passed"], row["f2p_total"]) == (3, 4)
    assert row["pass_rate"] == 0.75
    assert row["p2p_passed"] == row["p2p_total"] == 12
    assert "tests/test_textutil.py::test_wrap: failed" in row["reason"]
    # Over the run, a case without a prediction passes none of its F2P tests.
    assert (report["f2p_passed"], report["f2p_total"]) == (3, all_f2p(run))
    assert report["resolved_rate"] == 0.0
    assert len(report["missing"]) == 6


def test_editing_the_test_files_does_not_help(graded: dict[str, Any]) -> None:
    row = graded["cheater"]["instances"][graded["ids"]["textutil"]]
    assert row["status"] == "unresolved"
    assert row["f2p_passed"] == 0


def test_patches_that_do_not_apply_are_reported_not_raised(graded: dict[str, Any]) -> None:
    rows = graded["garbage"]["instances"]
    garbage, mismatched = rows[graded["ids"]["textutil"]], rows[graded["ids"]["polygon"]]
    assert garbage["status"] == mismatched["status"] == "patch failed"
    assert "No valid patches in input" in garbage["reason"]
    assert "patch does not apply" in mismatched["reason"]
    # A null patch is an empty one: it applies, and resolves nothing.
    assert rows[graded["ids"]["polygon2"]]["status"] == "unresolved"
    assert graded["garbage"]["counts"] == {
        "resolved": 0,
        "unresolved": 1,
        "patch failed": 2,
        "error": 0,
    }


def test_unknown_instance_ids_are_listed(run: Path, graded: dict[str, Any]) -> None:
    unknown = "nobody.00000000.test_x.000000000000.lv1"
    assert graded["partial"]["unknown_instance_ids"] == [unknown]
    assert graded["cheater"]["unknown_instance_ids"] == []
    md = (run.parent / "reports-predictions.jsonl" / "partial" / "report.md").read_text()
    assert f"- `{unknown}`" in md


def test_a_missing_environment_is_built_from_a_case_repository(run: Path, tmp_path: Path) -> None:
    """On a machine without the run's cache, eval builds the environment and says so."""
    fresh = tmp_path / "empty-cache"
    report = fbench_eval(run, fresh, "gold", "--jobs", "2", out="fresh")["gold"]
    assert report["resolved_instances"] == 7, report["instances"]
    (log,) = (run.parent / "fresh" / "logs" / "environments").glob("*.log")
    assert "not found: building it from" in log.read_text()


def test_preds_json_gives_swebench_s_report_keys_and_keeps_the_first_report(
    run: Path, cache: Path
) -> None:
    """mini-swe-agent's preds.json, graded into SWE-bench's id lists; a rerun needs --force."""
    textutil = case_dir(run, "test_textutil", 1)
    polygon = instance(case_dir(run, "test_polygon", 1))["instance_id"]
    iid = instance(textutil)["instance_id"]
    preds = {
        iid: {"model_patch": (textutil / "patch.diff").read_text()},
        polygon: {"model_patch": ""},
    }
    path = run.parent / "preds.json"
    path.write_text(json.dumps(preds))
    report = fbench_eval(run / "cases", cache, str(path))["preds"]
    assert report["resolved_ids"] == report["completed_ids"] == [iid]
    assert report["submitted_ids"] == sorted([iid, polygon])
    assert report["empty_patch_ids"] == [polygon]
    assert report["unresolved_ids"] == report["error_ids"] == []
    assert len(report["incomplete_ids"]) == 5
    assert (report["completed_instances"], report["empty_patch_instances"]) == (1, 1)
    assert report["schema_version"] == 2
    command = ["eval", "--cases", str(run), "--predictions", str(path), "--cache-dir", str(cache)]
    command += ["--report", str(run.parent / "reports-preds.json")]
    again = CliRunner().invoke(cli, command)
    assert again.exit_code == 2
    assert "preds was already evaluated there; pass --force" in again.output
    assert CliRunner().invoke(cli, [*command, "--force"]).exit_code == 0


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "predictions.jsonl:1: not JSON"),
        ('{"instance_id": 1, "model_name_or_path": "m"}', "must be strings"),
        ('{"instance_id": "a", "model_name_or_path": "m", "model_patch": 3}', "model_patch"),
    ],
)
def test_a_bad_predictions_file_is_one_line_and_exit_2(
    run: Path, tmp_path: Path, line: str, message: str
) -> None:
    path = tmp_path / "predictions.jsonl"
    path.write_text(line + "\n")
    command = ["eval", "--cases", str(run), "--predictions", str(path)]
    result = CliRunner().invoke(cli, command)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_cases_that_are_not_a_run_are_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["eval", "--cases", str(tmp_path), "--predictions", "gold"])
    assert result.exit_code == 2
    assert "no cases under" in result.output


@pytest.mark.network
def test_gold_resolves_and_empty_resolves_none_on_a_real_sdist(tmp_path: Path) -> None:
    """cachetools 5.5.2 from PyPI, with the example spec."""
    specs = Path(__file__).resolve().parents[3] / "specs" / "example_specs.py"
    cache = tmp_path / "cache"
    command = ["build-cases", "--config-path", str(specs), "--cache-dir", str(cache)]
    command += ["--output-dir", str(tmp_path / "out"), "--debug-repo", "SPECS_CACHETOOLS"]
    result = CliRunner().invoke(cli, command, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    (run,) = (tmp_path / "out").glob("[0-9]*/*")
    gold = fbench_eval(run, cache, "gold")["gold"]
    assert gold["total_instances"] >= 2
    assert gold["resolved_rate"] == 1.0, gold["instances"]
    empty = fbench_eval(run, cache, "empty")["empty"]
    assert empty["resolved_instances"] == 0


def test_a_case_from_another_version_is_refused_up_front(tmp_path: Path) -> None:
    case = tmp_path / "run" / "cases" / "x__y.12345678" / "test_a.0123.lv1"
    case.mkdir(parents=True)
    (case / "instance.json").write_text('{"instance_id": "x", "level": 1}')
    result = CliRunner().invoke(
        cli, ["eval", "--cases", str(tmp_path / "run"), "--predictions", "gold"]
    )
    assert result.exit_code == 2
    assert "instance.json lacks environment, repo_settings" in result.output
    assert "rebuild the run" in result.output
