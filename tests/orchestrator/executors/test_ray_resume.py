"""A ``build-cases --executor ray`` driver killed mid-run is continued with ``--resume``:
what it had taken back is reused, not run again, and the cases are an undisturbed run's."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.orchestrator.executors.runs import (
    build,
    case_bytes,
    feature_specs,
    no_stage_cache,
    waiting_spec,
    write_specs,
)
from tests.support.raycluster import RayCluster

TAKEN_BACK = "SPECS_GEOM: ran on Ray node"  # the driver's line once it wrote the spec's result
# Every stage's cache off: only the run's journal can spare work. The environments stay
# cached, so the three runs build each of them once.
NO_STAGE_CACHE = no_stage_cache()


def fbench(*args: str) -> list[str]:
    return [str(Path(sys.executable).parent / "fbench"), *args]


def wait_for_line(log: Path, run: subprocess.Popen[bytes], root: Path) -> None:
    deadline = time.monotonic() + 900
    while True:
        logs = list(root.glob("[0-9]*/*/logs/fbench.log"))
        if logs and TAKEN_BACK in logs[0].read_text():
            return
        assert run.poll() is None, log.read_text()
        assert time.monotonic() < deadline, f"the driver never took back SPECS_GEOM: {logs}"
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


def test_a_killed_ray_driver_resumes_without_running_again_what_it_took_back(
    ray_cluster: RayCluster, tmp_path: Path
) -> None:
    """geom ends and is taken back while the second spec's test waits for a file; the
    driver is SIGKILLed; the file is made, and --resume on Ray finishes with geom's item
    logs untouched: nothing of geom ran again."""
    release = tmp_path / "release"
    specs = feature_specs(tmp_path, ("geom",))
    specs["SPECS_WAITS"] = waiting_spec(tmp_path, [str(release)], limit=600)
    path = write_specs(tmp_path / "specs.py", specs)
    out, cache = tmp_path / "out", str(tmp_path / "cache")
    address = ("--executor", "ray", "--ray-address", ray_cluster.address)
    # --no-sandbox: the waiting test must see ``release``.
    options = ("--jobs", "2", "--no-sandbox", "--debug", NO_STAGE_CACHE)
    common = (*options, "--cache-dir", cache)
    command = fbench("build-cases", "--config-path", str(path), "--output-dir", str(out))
    command += [*common, *address]
    with (tmp_path / "first.log").open("wb") as log:
        first = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_line(tmp_path / "first.log", first, out)
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    finally:
        if first.poll() is None:
            os.kill(first.pid, signal.SIGKILL)
    (run,) = out.glob("[0-9]*/*")
    before = stamps(run, "SPECS_GEOM")
    assert "SPECS_WAITS: ran on Ray node" not in (run / "logs" / "fbench.log").read_text()
    release.touch()
    resumed = subprocess.run(
        fbench("build-cases", "--resume", str(run), *common, *address),
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert stamps(run, "SPECS_GEOM") == before  # none of geom's items ran again
    assert stamps(run, "SPECS_WAITS")  # the slow spec ran, to its end
    undisturbed = build(path, tmp_path / "local", Path(cache), *options)
    assert case_bytes(run) == case_bytes(undisturbed)
