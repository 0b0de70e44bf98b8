"""``fbench cases list`` and ``fbench cases show`` on a real run, found through ``runs/latest``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from tests.orchestrator.grading.test_eval import build_feature_run, shared_cache
from tests.orchestrator.grading.test_export_report import TIGHT
from tests.support.caseutil import instance


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with ``runs/`` (build-cases' default output) holding one run."""
    work = tmp_path_factory.mktemp("cases")
    build_feature_run(work, shared_cache(tmp_path_factory), TIGHT, output="runs")
    return work


def invoke(work: Path, *args: str) -> tuple[int, str]:
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(work)
        result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_latest_points_at_the_newest_run(work: Path) -> None:
    (run,) = (work / "runs").glob("[0-9]*/*")
    latest = work / "runs" / "latest"
    assert latest.is_symlink()
    assert latest.resolve() == run.resolve()
    assert not Path(str(latest.readlink())).is_absolute()  # the runs folder can move


def test_list_shows_every_case_of_the_latest_run(work: Path) -> None:
    code, out = invoke(work, "cases", "list")
    assert code == 0, out
    ids = sorted(instance(c)["instance_id"] for c in (work / "runs").glob("latest/cases/*/*"))
    lines = out.splitlines()
    assert lines[0].split() == ["instance", "level", "F2P", "P2P", "lines", "top", "objects"]
    assert [line.split()[0] for line in lines[1:-1]] == ids
    assert lines[-1] == f"{len(ids)} cases"
    code, data = invoke(work, "cases", "list", "runs/latest/cases", "--json")
    assert [row["instance_id"] for row in json.loads(data)] == ids


def test_show_takes_a_unique_part_of_an_id(work: Path) -> None:
    case = sorted((work / "runs").glob("latest/cases/*/*.lv2"))[0]
    info = instance(case)
    code, out = invoke(work, "cases", "show", info["instance_id"].rsplit(".", 2)[0] + ".")
    assert code == 2  # the level 1 and level 2 cases share that part
    assert "names 2 cases" in out
    code, out = invoke(work, "cases", "show", info["instance_id"])
    assert code == 0, out
    assert out.startswith(f"{info['instance_id']}  (level 2)\n")
    for test in info["FAIL_TO_PASS"]:
        assert f"    {test}\n" in out
    assert "    problem_statement.md\n" in out


def test_show_of_an_unknown_id_suggests_one(work: Path) -> None:
    case = sorted((work / "runs").glob("latest/cases/*/*.lv1"))[0]
    code, out = invoke(work, "cases", "show", instance(case)["instance_id"] + "x")
    assert code == 2
    assert f"did you mean {instance(case)['instance_id']}?" in out
