"""``fbench build-cases --backend local`` up to the runner, on a small git repository."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from tests.orchestrator.small_project import assert_runner_verdicts, make_small_project
from tests.support.gitrepos import commit_files


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    root = tmp_path_factory.mktemp("small")
    # Relative: in the work tree, the one place outside its private /tmp a sandboxed run keeps.
    commits = make_small_project(root / "shapes", marker=Path("flaky-marker"))
    return root / "shapes", commits


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


def write_specs(path: Path, repository: Path, **extra: object) -> Path:
    spec = {"repository": str(repository), "pip_packages": ["pytest"], "rerun_failed": 1, **extra}
    path.write_text(f"SPECS_SHAPES = {spec!r}\n")
    return path


def build(specs: Path, out: Path, cache: Path, *args: str) -> Path:
    result = CliRunner().invoke(
        cli,
        [
            "build-cases",
            "--config-path",
            str(specs),
            "--output-dir",
            str(out),
            "--cache-dir",
            str(cache),
            "--debug",
            "end=runner",
            *args,
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    (day,) = out.glob("[0-9]*")  # not the latest link
    return sorted(day.iterdir())[-1]


def files_status(run: Path) -> dict[str, dict[str, object]]:
    return json.loads((run / "metadata_outputs" / "files_status.json").read_text())["SPECS_SHAPES"][
        "files"
    ]


@pytest.fixture(scope="module")
def first_run(
    project: tuple[Path, list[str]], cache: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    work = tmp_path_factory.mktemp("run")
    return build(write_specs(work / "specs.py", project[0]), work / "out", cache)


def test_the_run_directory_has_seed_000s_layout(first_run: Path) -> None:
    """<out>/<YYYY-MM-DD>/<HH-MM-SS>/ with cases, metadata_outputs, logs, debug_outputs."""
    assert {p.name for p in first_run.iterdir()} >= {
        "cases",
        "metadata_outputs",
        "logs",
        "debug_outputs",
    }
    assert re.fullmatch(r"\d{2}-\d{2}-\d{2}", first_run.name)
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", first_run.parent.name)


def test_the_commit_is_resolved_and_written_back(
    first_run: Path, project: tuple[Path, list[str]]
) -> None:
    """No commit in the spec means HEAD, written to config_backup.py and metadata.json."""
    head = project[1][-1]
    backup = (first_run / "metadata_outputs" / "config_backup.py").read_text()
    assert f"'commit': '{head}'" in backup
    metadata = json.loads((first_run / "metadata_outputs" / "metadata.json").read_text())
    assert metadata["specs"]["SPECS_SHAPES"]["commit"] == head


def test_the_runner_tells_passing_failing_and_flaky_files_apart(first_run: Path) -> None:
    """Clean files pass; the network test fails for good; the flaky test is named."""
    assert_runner_verdicts(files_status(first_run))


def test_the_scanner_counts_tests_and_dates_files(first_run: Path) -> None:
    """Collection comes from the plugin's records; dates from each file's last commit."""
    files = files_status(first_run)
    assert files["tests/test_circle.py"]["tests"] == 2
    assert files["tests/test_circle.py"]["last_commit"] == "2020-09-13"
    assert files["tests/test_square.py"]["last_commit"] == "2023-11-14"


def test_start_time_and_min_test_num_pick_f2p_candidates(
    project: tuple[Path, list[str]], cache: Path, tmp_path: Path
) -> None:
    """Only files committed since start_time, with enough tests, are F2P candidates."""
    specs = write_specs(tmp_path / "specs.py", project[0], start_time="2021-01-01", min_test_num=2)
    files = files_status(build(specs, tmp_path / "out", cache))
    f2p = sorted(path for path, info in files.items() if info["f2p_candidate"])
    assert f2p == ["tests/test_flaky.py", "tests/test_network.py", "tests/test_square.py"]
    assert all(info["p2p_candidate"] for info in files.values())


def test_a_warm_rerun_runs_nothing_again(
    first_run: Path, project: tuple[Path, list[str]], cache: Path, tmp_path: Path
) -> None:
    """The same specs again: every scanner and runner item comes from the cache."""
    run = build(write_specs(tmp_path / "specs.py", project[0]), tmp_path / "out", cache)
    summary = json.loads((run / "metadata_outputs" / "summary.json").read_text())["stages"]
    assert summary["scanner"]["cached"] == summary["scanner"]["items"] == 1
    assert summary["runner"]["cached"] == summary["runner"]["items"] == 4
    assert files_status(run) == files_status(first_run)


def test_timeout_run_reruns_the_runner_not_the_scanner(
    first_run: Path, project: tuple[Path, list[str]], cache: Path, tmp_path: Path
) -> None:
    """A runner setting changes the runner's fingerprints only."""
    run = build(
        write_specs(tmp_path / "specs.py", project[0], timeout_run=555), tmp_path / "out", cache
    )
    summary = json.loads((run / "metadata_outputs" / "summary.json").read_text())["stages"]
    assert summary["scanner"]["cached"] == 1
    assert summary["runner"]["cached"] == 0
    assert summary["image"]["items"] == 1


def test_an_install_change_builds_a_new_environment(
    project: tuple[Path, list[str]], cache: Path, tmp_path: Path
) -> None:
    """Changing pip_packages is a new environment, and so a new scan."""
    envs_before = set((cache / "envs").iterdir())
    run = build(
        write_specs(tmp_path / "specs.py", project[0], pip_packages=["pytest", "six"]),
        tmp_path / "out",
        cache,
    )
    assert len(set((cache / "envs").iterdir()) - envs_before) == 1
    summary = json.loads((run / "metadata_outputs" / "summary.json").read_text())["stages"]
    assert summary["scanner"]["cached"] == 0


def test_debug_sample_and_cache_override(
    project: tuple[Path, list[str]], cache: Path, tmp_path: Path
) -> None:
    """--debug-sample keeps only those stems; --debug runner=False ignores the cache."""
    specs = write_specs(tmp_path / "specs.py", project[0])
    run = build(
        specs,
        tmp_path / "out",
        cache,
        "--debug-sample",
        "test_circle",
        "--debug",
        "end=runner, runner=False",
    )
    files = files_status(run)
    assert [p for p, info in files.items() if info["p2p_candidate"]] == ["tests/test_circle.py"]
    summary = json.loads((run / "metadata_outputs" / "summary.json").read_text())["stages"]
    assert summary["runner"]["items"] == 1
    assert summary["runner"]["cached"] == 0


def test_infrastructure_errors_are_retried_and_failures_kept(tmp_path: Path) -> None:
    """A timed-out file is an error, run again next time; a failing file is cached as failed."""
    repo = tmp_path / "hang"
    commit_files(
        repo,
        {
            "pyproject.toml": '[project]\nname = "hang"\nversion = "0"\n',
            "tests/test_hang.py": "import time\n\n\ndef test_hang():\n    time.sleep(30)\n",
            "tests/test_wrong.py": "def test_wrong():\n    assert 1 == 2\n",
        },
        "hanging and failing tests",
        when=1_700_000_000,
    )
    specs = write_specs(tmp_path / "specs.py", repo, timeout_run=3, rerun_failed=0)
    first = build(specs, tmp_path / "out", tmp_path / "cache")
    files = files_status(first)
    assert files["tests/test_hang.py"]["runner"]["status"] == "error"
    assert files["tests/test_hang.py"]["runner"]["reason"].startswith("timed out")
    assert files["tests/test_wrong.py"]["runner"]["status"] == "failed"
    second = build(specs, tmp_path / "out", tmp_path / "cache")
    runner = json.loads((second / "metadata_outputs" / "summary.json").read_text())["stages"][
        "runner"
    ]
    assert runner["items"] == 2
    assert runner["cached"] == 1  # the failure; the timeout ran again
    assert runner["errors"] == 1


def test_dynamic_traces_every_passing_file(
    project: tuple[Path, list[str]], cache: Path, tmp_path: Path
) -> None:
    """end=dynamic: each passing file is traced; traces land in dynamic_trace/{SPECS_NAME}/."""
    run = build(
        write_specs(tmp_path / "specs.py", project[0]),
        tmp_path / "out",
        cache,
        "--debug",
        "end=dynamic",
    )
    folder = run / "metadata_outputs" / "dynamic_trace" / "SPECS_SHAPES"
    assert sorted(p.name for p in folder.iterdir()) == [
        "tests_test_circle.py.json",
        "tests_test_square.py.json",
    ]
    square = json.loads((folder / "tests_test_square.py.json").read_text())
    total = square["tests"]["tests/test_square.py::test_total"]
    assert total["outcome"] == "passed"
    reached = {row[1]: row[3] for row in total["calls"]}
    assert reached == {"total_area": 1, "Square.__init__": 1, "Square.area": 2}  # genexpr adds none
    summary = json.loads((run / "metadata_outputs" / "summary.json").read_text())
    assert summary["stages"]["dynamic"]["items"] == 2
    assert summary["warnings"] == []


def test_top_picks_objects_specific_to_each_f2p_file(
    project: tuple[Path, list[str]], cache: Path, tmp_path: Path
) -> None:
    """end=top: the offline selector picks what only this file's tests exercise, with reasons."""
    specs = write_specs(tmp_path / "specs.py", project[0])
    run = build(specs, tmp_path / "out", cache, "--debug", "end=top")
    reasons = {
        json.loads(path.read_text())["file"]: json.loads(path.read_text())
        for path in (run / "debug_outputs" / "top_classification" / "SPECS_SHAPES").glob(
            "*/reasons.json"
        )
    }
    circle = reasons["tests/test_circle.py"]
    assert circle["status"] == "ok"
    assert [u["unit"] for u in circle["units"]] == ["file"]  # the whole file is the unit
    assert circle["units"][0]["top_objects"] == [
        {
            "kind": "class",
            "path": "shapes/__init__.py",
            "qualname": "Circle",
            "methods": ["Circle.__init__", "Circle.area"],
        }
    ]
    square = reasons["tests/test_square.py"]
    assert {o["qualname"] for o in square["units"][0]["top_objects"]} == {"Square", "total_area"}
    verdicts = {c["qualname"]: c for c in square["candidates"]}
    assert verdicts["total_area"]["specificity"] == 1.0
    assert verdicts["total_area"]["reason"].startswith("specific (100%) at depth 1")


def test_p2p_files_avoid_the_top_objects_and_follow_the_seed(
    project: tuple[Path, list[str]], cache: Path, tmp_path: Path
) -> None:
    """end=p2p: each F2P file gets P2P files whose tests reach none of its top objects."""
    specs = write_specs(tmp_path / "specs.py", project[0])
    run = build(specs, tmp_path / "out", cache, "--debug", "end=p2p")
    summary = json.loads((run / "metadata_outputs" / "summary.json").read_text())["stages"]["p2p"]
    # test_circle's top object is the Circle class; test_square's tests never touch it.
    assert summary["items"] == 2
    assert summary["ok"] == 2
    journal = run / "metadata_outputs" / "journal" / "results" / "p2p"
    choices = sorted(
        json.loads(p.read_text())["data"]["p2p_files"] for p in journal.glob("*/*.json")
    )
    assert choices == [["tests/test_circle.py"], ["tests/test_square.py"]]
