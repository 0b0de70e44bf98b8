"""A worker's share of a run directory travels as data and lands in the driver's run."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.executors.transfer import journal_entries, pack, unpack, write_entries
from orchestrator.pipeline.engine import RunContext
from orchestrator.pipeline.storage import ResultCache


def context(root: Path, logs: Path) -> RunContext:
    return RunContext(
        root=root,
        cache=ResultCache(root / "cache"),
        journal=ResultCache(root / "metadata_outputs" / "journal"),
        jobs=1,
        seed=0,
        logs_dir=logs,
        repos_dir=root / "repos",
        cache_dir=root / "cache",
        backend="local",
    )


def test_files_links_and_modes_arrive_and_status_files_merge(tmp_path: Path) -> None:
    worker = tmp_path / "worker"
    (worker / "cases" / "geom.1234abcd" / "case").mkdir(parents=True)
    (worker / "cases" / "geom.1234abcd" / "case" / "run.sh").write_text("#!/bin/sh\n")
    (worker / "cases" / "geom.1234abcd" / "case" / "run.sh").chmod(0o755)
    (worker / "cases" / "geom.1234abcd" / "link").symlink_to("case/run.sh")
    (worker / "logs" / "test_runner").mkdir(parents=True)
    (worker / "logs" / "test_runner" / "a.log").write_bytes(b"\x00binary\xff")
    (worker / "metadata_outputs").mkdir()
    (worker / "metadata_outputs" / "files_status.json").write_text('{"SPECS_B": {"n": 2}}')
    entries = pickle.loads(pickle.dumps(pack(worker)))  # as Ray sends them

    driver, logs = tmp_path / "run", tmp_path / "elsewhere-logs"
    (driver / "metadata_outputs").mkdir(parents=True)
    (driver / "metadata_outputs" / "files_status.json").write_text('{"SPECS_A": {"n": 1}}')
    unpack(entries, context(driver, logs))

    case = driver / "cases" / "geom.1234abcd"
    assert (case / "case" / "run.sh").read_text() == "#!/bin/sh\n"
    assert (case / "case" / "run.sh").stat().st_mode & 0o111
    assert (case / "link").readlink() == Path("case/run.sh")
    assert (logs / "test_runner" / "a.log").read_bytes() == b"\x00binary\xff"
    assert not (driver / "logs").exists()
    status = json.loads((driver / "metadata_outputs" / "files_status.json").read_text())
    assert status == {"SPECS_A": {"n": 1}, "SPECS_B": {"n": 2}}


def test_the_journal_goes_out_and_does_not_come_back(tmp_path: Path) -> None:
    driver = context(tmp_path / "run", tmp_path / "run" / "logs")
    driver.journal.put("runner", "ab" * 32, {"status": "ok"})
    sent = journal_entries(driver)
    worker = tmp_path / "worker"
    skip = write_entries(worker, sent)
    assert ResultCache(worker / "metadata_outputs" / "journal").get("runner", "ab" * 32) == {
        "status": "ok"
    }
    ResultCache(worker / "metadata_outputs" / "journal").put("data", "cd" * 32, {"status": "ok"})
    back = [entry.path for entry in pack(worker, skip)]
    assert back == [f"metadata_outputs/journal/results/data/cd/{'cd' * 32}.json"]


def test_ray_missing_is_a_one_line_error_naming_the_extra() -> None:
    code = (
        "import sys; sys.modules['ray'] = None\n"
        "from orchestrator.executors import executor\n"
        "executor('ray')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode != 0
    assert "--executor ray needs Ray: pip install 'pytest-featurebench[ray]'" in result.stderr


@pytest.mark.parametrize(
    ("command", "given", "run_dir"),
    [
        ("build-pairs", ("--config-path", "specs.py"), "runs"),
        ("sandbox", ("--config", "jobs.yaml"), "runs/sandbox"),
    ],
)
def test_without_ray_a_command_says_so_in_one_line_before_a_run_directory(
    tmp_path: Path, command: str, given: tuple[str, str], run_dir: str
) -> None:
    (tmp_path / "specs.py").write_text("SPECS_X = {'repository': 'pypi:cachetools==5.5.2'}\n")
    (tmp_path / "jobs.yaml").write_text(
        "execution_jobs:\n  - {type: build_cases, meta_name: b, specs: specs.py}\n"
    )
    argv = ["fbench", command, *given, "--executor", "ray"]
    code = (
        "import sys; sys.modules['ray'] = None\n"
        f"from orchestrator.cli import main; sys.argv = {argv!r}; main()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.endswith("--executor ray needs Ray: pip install 'pytest-featurebench[ray]'")
    assert not (tmp_path / run_dir).exists()
