"""One cache, several processes at once: two evals, and an eval beside a build-cases.

Each is the real ``fbench`` in its own process, started together on one empty
cache. They must give what one alone gives, build each environment once, and
leave the cache whole: every environment complete, no temporaries.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.orchestrator.grading.test_eval import build_feature_run, shared_cache

FBENCH = str(Path(sys.executable).parent / "fbench")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_feature_run(tmp_path_factory.mktemp("shared"), shared_cache(tmp_path_factory))


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [FBENCH, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def start_eval(run: Path, cache: Path, report: Path) -> subprocess.Popen[str]:
    args = ["--predictions", "gold", "--jobs", "2", "--report", str(report)]
    return start("eval", "--cases", str(run), "--cache-dir", str(cache), *args)


def finish(*processes: subprocess.Popen[str]) -> None:
    outputs = [process.communicate(timeout=900) for process in processes]
    assert [process.returncode for process in processes] == [0] * len(processes), outputs


def grades(report: Path) -> dict[str, Any]:
    data = json.loads((report / "gold" / "report.json").read_text())
    return {iid: (row["status"], row["f2p_passed"]) for iid, row in data["instances"].items()}


def assert_cache_whole(cache: Path) -> None:
    """Every environment finished, and no write was left half-done."""
    envs = [path for path in (cache / "envs").iterdir() if path.is_dir()]
    assert envs
    for env in envs:
        assert (env / ".featurebench-complete").is_file(), env
    assert not [path for path in cache.rglob("*.tmp") if path.is_file()]


def test_two_evals_on_one_empty_cache_agree_and_build_the_environment_once(
    run: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    reports = [tmp_path / "first", tmp_path / "second"]
    finish(*(start_eval(run, cache, report) for report in reports))
    first, second = (grades(report) for report in reports)
    assert first == second
    assert [status for status, _ in first.values()] == ["resolved"] * 7, first
    assert_cache_whole(cache)
    assert len(list((cache / "envs").iterdir())) == 1
    logs = [report / "logs" / "environments" for report in reports]
    builds = [log for folder in logs if folder.is_dir() for log in folder.glob("*.log")]
    assert len(builds) == 1  # the other eval waited on the lock, then used it


def test_an_eval_beside_a_build_cases_on_one_cache(run: Path, tmp_path: Path) -> None:
    """The build makes the run's cases again while the eval grades the first run's."""
    cache = tmp_path / "cache"
    work = run.parent.parent.parent  # where build_feature_run put the specs
    build = start(
        "build-cases", "--config-path", str(work / "specs.py"), "--jobs", "2",
        "--output-dir", str(tmp_path / "out"), "--cache-dir", str(cache),
    )  # fmt: skip
    graded = start_eval(run, cache, tmp_path / "report")
    finish(build, graded)
    assert [status for status, _ in grades(tmp_path / "report").values()] == ["resolved"] * 7
    (again,) = (tmp_path / "out").glob("[0-9]*/*")
    names = sorted(path.name for path in (again / "cases").glob("*/*"))
    assert names == sorted(path.name for path in (run / "cases").glob("*/*"))
    assert_cache_whole(cache)
