"""Ctrl-C in ``fbench eval``: exit 130 at once, say how to go on, and ``--resume`` finishes it."""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.orchestrator.grading.test_eval import build_feature_run, shared_cache


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_feature_run(tmp_path_factory.mktemp("eval-int"), shared_cache(tmp_path_factory))


def graded(report: Path) -> int:
    """Cases graded so far: each is kept as soon as it is."""
    return len(list(report.glob("gold/logs/*/result.json")))


def fbench(*args: str, folder: Path) -> subprocess.Popen[bytes]:
    with (folder / "stdout.txt").open("ab") as out, (folder / "stderr.txt").open("ab") as err:
        return subprocess.Popen(
            [str(Path(sys.executable).parent / "fbench"), *args],
            stdout=out,
            stderr=err,
            start_new_session=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )


def test_ctrl_c_stops_eval_with_130_and_resume_finishes_it(run: Path, tmp_path: Path) -> None:
    report = tmp_path / "reports"
    args = ["eval", "--cases", str(run), "--predictions", "gold", "--jobs", "1"]
    process = fbench(*args, "--report", str(report), folder=tmp_path)
    deadline = time.monotonic() + 300
    while graded(report) < 2:
        assert process.poll() is None, (tmp_path / "stderr.txt").read_text()
        assert time.monotonic() < deadline, "no case was ever graded"
        time.sleep(0.05)
    assert process.poll() is None, "the eval ended before the moment to interrupt it"
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=120) == 130, (tmp_path / "stderr.txt").read_text()
    # The queue was dropped, not drained; no report pretends the eval is complete.
    assert graded(report) < 7
    assert not (report / "gold" / "report.json").exists()
    assert (tmp_path / "stdout.txt").read_text() == f"{report}\n"
    stderr = (tmp_path / "stderr.txt").read_text()
    hint = stderr.split("continue with: ", 1)[1].strip()
    assert hint.endswith("--resume")
    first = {p.parent.name: p.stat().st_mtime_ns for p in report.glob("gold/logs/*/result.json")}
    resumed = fbench(*shlex.split(hint)[1:], folder=tmp_path)
    assert resumed.wait(timeout=600) == 0, (tmp_path / "stderr.txt").read_text()
    data = json.loads((report / "gold" / "report.json").read_text())
    assert data["resolved_instances"] == data["total_instances"] == 7, data["instances"]
    # No --cache-dir: the run's own cache had the environment, so none was built.
    assert not (report / "logs" / "environments").exists()
    # The cases graded before the interrupt were reused, not graded again.
    for case, mtime in first.items():
        assert (report / "gold" / "logs" / case / "result.json").stat().st_mtime_ns == mtime
