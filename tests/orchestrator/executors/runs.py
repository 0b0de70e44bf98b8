"""Multi-spec runs of ``fbench`` for the executor tests (some with a driver killed
mid-run), and their cases as bytes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from orchestrator.cli import cli
from orchestrator.stages import CACHED_STAGE_NAMES
from tests.orchestrator.feature_project import make_feature_project
from tests.orchestrator.grading.test_eval import SPEC
from tests.support.gitrepos import commit_files

# A test that waits until every pattern matches a file: a spec whose runner stage lasts
# until then.
WAITING_TEST = """\
import glob
import time


def test_waits():
    deadline = time.monotonic() + {limit}
    while not all(map(glob.glob, {patterns!r})) and time.monotonic() < deadline:
        time.sleep(0.2)
"""


def no_stage_cache(stages: tuple[str, ...] = CACHED_STAGE_NAMES) -> str:
    """``--debug`` that turns every stage's cache off: a run makes all of its results
    again, but for the environments, which are cached apart from the stages."""
    return ", ".join(f"{stage}=False" for stage in stages)


def feature_specs(work: Path, names: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """One feature project per name, each its own repository (its own case directory)."""
    specs = {}
    for name in names:
        make_feature_project(work / name)
        specs[f"SPECS_{name.upper()}"] = {"repository": str(work / name), **SPEC}
    return specs


def waiting_spec(work: Path, patterns: list[str], limit: float) -> dict[str, Any]:
    files = {
        "pyproject.toml": '[project]\nname = "waits"\nversion = "0"\n',
        "tests/test_waits.py": WAITING_TEST.format(patterns=patterns, limit=limit),
    }
    commit_files(work / "waits", files, "a test that waits", when=1_700_000_000)
    return {"repository": str(work / "waits"), **SPEC, "library_name": "waits"}


def write_specs(path: Path, specs: dict[str, dict[str, Any]]) -> Path:
    path.write_text("".join(f"{name} = {spec!r}\n" for name, spec in specs.items()))
    return path


def build(specs: Path, out: Path, cache: Path, *args: str) -> Path:
    """``fbench build-cases``; returns the run directory."""
    command = ["build-cases", "--config-path", str(specs), "--output-dir", str(out)]
    command += ["--cache-dir", str(cache), *args]
    result = CliRunner().invoke(cli, command, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    (run,) = out.glob("[0-9]*/*")
    return run


def case_bytes(run: Path) -> dict[str, bytes]:
    """Every file of every case directory, by path: what two runs must agree on. Git's
    index is left out: it caches each file's stat data (times, inode), nothing else."""
    cases = run / "cases"
    found = {
        str(path.relative_to(cases)): path.read_bytes()
        for path in sorted(cases.rglob("*"))
        if path.is_file() and not str(path).endswith("/.git/index")
    }
    assert found, f"{run} has no cases"
    return found


def fbench(*args: str) -> list[str]:
    """The ``fbench`` command of this environment: a driver of its own, to be killed."""
    return [str(Path(sys.executable).parent / "fbench"), *args]


def kill_when_logged(command: list[str], said: Path, logs: tuple[Path, str], line: str) -> None:
    """Start the driver ``command`` (its output to ``said``), and SIGKILL it once it has
    logged ``line`` in the log that ``logs`` (a folder and a pattern under it) finds."""
    with said.open("wb") as out:
        driver = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_line(driver, said, logs, line)
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait()
    finally:
        if driver.poll() is None:
            os.kill(driver.pid, signal.SIGKILL)
            driver.wait()


def resume(command: str, run: Path, *args: str) -> None:
    """``fbench <command> --resume run``, in a driver of its own, to its successful end."""
    resumed = subprocess.run(
        fbench(command, "--resume", str(run), *args), capture_output=True, text=True, timeout=1800
    )
    assert resumed.returncode == 0, resumed.stderr


def wait_for_line(
    run: subprocess.Popen[bytes], said: Path, logs: tuple[Path, str], line: str
) -> None:
    """Until the running driver ``run`` has logged ``line`` (see :func:`kill_when_logged`)."""
    deadline = time.monotonic() + 900
    while True:
        found = list(logs[0].glob(logs[1]))
        if found and line in found[0].read_text():
            return
        assert run.poll() is None, said.read_text()
        assert time.monotonic() < deadline, f"the driver never logged {line!r}: {found}"
        time.sleep(0.5)


def stamps(run: Path, spec: str) -> dict[str, tuple[int, int]]:
    """Inode and mtime of each log a spec's items wrote: a new item run writes them anew."""
    found = {
        str(p.relative_to(run)): (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in (run / "logs").glob(f"*/{spec}/**/*")
        if p.is_file()
    }
    assert found, f"{spec} wrote no item logs"
    return found
