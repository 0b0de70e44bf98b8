"""A run killed with SIGKILL at any point, then resumed, ends with the same results."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.gitrepos import commit_files

SLOW_TEST = """\
import time


def test_slow_{n}():
    time.sleep(0.4)
    assert {n} >= 0
"""

FAILING_TEST = """\
def test_broken():
    assert 1 == 2
"""


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six slow passing test files and one failing one."""
    path = tmp_path_factory.mktemp("slow") / "slow"
    files = {f"tests/test_slow_{n}.py": SLOW_TEST.format(n=n) for n in range(6)}
    files["tests/test_broken.py"] = FAILING_TEST
    files["pyproject.toml"] = '[project]\nname = "slow"\nversion = "0"\n'
    commit_files(path, files, "slow tests", when=1_700_000_000)
    return path


def start(specs: Path, out: Path, cache: Path, *args: str) -> subprocess.Popen[bytes]:
    """The real ``fbench`` in its own process group; stdout and stderr go to files beside ``out``."""
    options = ["--config-path", str(specs), "--output-dir", str(out), "--cache-dir", str(cache)]
    return start_fbench(out.parent, *options, *args)


def start_fbench(folder: Path, *args: str) -> subprocess.Popen[bytes]:
    fbench = Path(sys.executable).parent / "fbench"
    command = [str(fbench), "build-cases", "--debug", "end=runner", "--jobs", "1", *args]
    with (
        (folder / "stdout.txt").open("ab") as stdout,
        (folder / "stderr.txt").open("ab") as stderr,
    ):
        return subprocess.Popen(
            command,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
            preexec_fn=_default_sigint,
        )


def _default_sigint() -> None:
    # A suite started in the background by a shell inherits SIGINT ignored, and so
    # would fbench (Python keeps an ignored SIGINT ignored): give it Ctrl-C back.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_until(
    condition: Callable[[], bool], process: subprocess.Popen[bytes], limit: float = 300
) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert process.poll() is None, "the run ended before the moment to kill it"
        assert time.monotonic() < deadline, "the run never got there"
        time.sleep(0.05)
    # Seen at the moment, not after: a run that has meanwhile ended tests nothing.
    assert process.poll() is None, "the run ended before the moment to kill it"


def wait_for_no_process_using(path: Path, limit: float = 0.5) -> None:
    deadline = time.monotonic() + limit
    while True:
        users = []
        for proc in Path("/proc").glob("[0-9]*"):
            try:
                seen = (proc / "cmdline").read_bytes() + (proc / "environ").read_bytes()
                if str(path).encode() in seen:
                    users.append(proc.name)
            except OSError:
                continue
        if not users:
            return
        assert time.monotonic() < deadline, f"processes {users} outlived the killed run"
        time.sleep(0.1)


def verdicts(run: Path) -> dict[str, str]:
    files = json.loads((run / "metadata_outputs" / "files_status.json").read_text())["SPECS_SLOW"][
        "files"
    ]
    return {path: info["runner"]["status"] for path, info in files.items()}


def run_dir(out: Path) -> Path:
    (day,) = out.glob("[0-9]*")  # not the latest link
    (run,) = day.iterdir()
    return run


EXPECTED = {f"tests/test_slow_{n}.py": "ok" for n in range(6)} | {"tests/test_broken.py": "failed"}


def runner_results_in(cache: Path) -> int:
    """Files the runner has finished: the cache gets each as it is done (the run's
    journal only once the whole stage is)."""
    return len(list((cache / "results" / "runner").rglob("*.json")))


def killed_in_runner(run_out: Path, cache: Path) -> Callable[[], bool]:
    def some_files_done() -> bool:
        return runner_results_in(cache) >= 2  # mid-stage: five files still to run

    return some_files_done


def killed_while_installing(run_out: Path, cache: Path) -> Callable[[], bool]:
    def installing() -> bool:
        # The virtualenv is made (its log entry is written) and pip is now installing.
        logs = list(run_out.glob("*/*/logs/instance/SPECS_SLOW.log"))
        return bool(logs) and "uv venv" in logs[0].read_text()

    return installing


@pytest.mark.parametrize("moment", [killed_while_installing, killed_in_runner])
def test_sigkill_then_resume_gives_the_uninterrupted_results(
    repository: Path, tmp_path: Path, moment: Callable[[Path, Path], Callable[[], bool]]
) -> None:
    """Kill -9 the whole run mid-stage; ``--resume`` finishes it with every verdict right."""
    specs = tmp_path / "specs.py"
    specs.write_text(
        f"SPECS_SLOW = {{'repository': {str(repository)!r}, 'pip_packages': ['pytest'], 'rerun_failed': 0}}\n"
    )
    out, cache = tmp_path / "out", tmp_path / "cache"
    process = start(specs, out, cache)
    wait_until(moment(out, cache), process)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    wait_for_no_process_using(cache)  # children die with fbench: nothing races the resume
    run = run_dir(out)
    resumed = start(specs, out, cache, "--resume", str(run))
    assert resumed.wait(timeout=600) == 0, (tmp_path / "stderr.txt").read_text()
    assert verdicts(run) == EXPECTED
    summary = json.loads((run / "metadata_outputs" / "summary.json").read_text())["stages"]
    assert summary["runner"]["items"] == 7
    assert summary["runner"]["errors"] == 0


def write_slow_specs(repository: Path, folder: Path) -> Path:
    specs = folder / "specs.py"
    spec = {"repository": str(repository), "pip_packages": ["pytest"], "rerun_failed": 0}
    specs.write_text(f"SPECS_SLOW = {spec!r}\n")
    return specs


def test_killed_at_the_start_resumes_from_the_run_alone(repository: Path, tmp_path: Path) -> None:
    """Killed in the repo stage, ``--resume RUN`` alone finds the specs and the run's own cache."""
    out, cache = tmp_path / "out", tmp_path / "cache"
    process = start(write_slow_specs(repository, tmp_path), out, cache)
    wait_until(lambda: any(out.glob("*/*/metadata_outputs/config_backup.py")), process)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    run = run_dir(out)
    resumed = start_fbench(tmp_path, "--resume", str(run))
    assert resumed.wait(timeout=600) == 0, (tmp_path / "stderr.txt").read_text()
    assert verdicts(run) == EXPECTED
    assert any((cache / "results" / "runner").rglob("*.json"))  # the recorded cache was used


def test_ctrl_c_stops_promptly_with_130_and_says_how_to_resume(
    repository: Path, tmp_path: Path
) -> None:
    """SIGINT mid-runner: exit 130 without draining the queue; the run dir and --resume shown."""
    out, cache = tmp_path / "out", tmp_path / "cache"
    process = start(write_slow_specs(repository, tmp_path), out, cache)
    wait_until(lambda: runner_results_in(cache) >= 2, process)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=120) == 130, (tmp_path / "stderr.txt").read_text()
    # Stopped mid-stage: the files still queued never ran, and nothing it started lives on.
    assert runner_results_in(cache) < len(EXPECTED)
    wait_for_no_process_using(cache, limit=10)
    run = run_dir(out)
    assert (tmp_path / "stdout.txt").read_text() == f"{run}\n"
    assert (
        f"continue it with: fbench build-cases --resume {run}"
        in (tmp_path / "stderr.txt").read_text()
    )
    resumed = start_fbench(tmp_path, "--resume", str(run))
    assert resumed.wait(timeout=600) == 0, (tmp_path / "stderr.txt").read_text()
    assert verdicts(run) == EXPECTED
