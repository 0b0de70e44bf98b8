"""``--executor ray`` on a real two-node Ray cluster: the same cases as ``--executor local``,
even when the second node dies mid-run."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from tests.orchestrator.executors.runs import build, case_bytes, feature_specs, write_specs
from tests.support.raycluster import RayCluster

pytestmark = pytest.mark.network  # one spec is a real sdist from PyPI

CACHETOOLS = {
    "repository": "pypi:cachetools==5.5.2",
    "install": "pip install -e .",
    "pip_packages": ["pytest"],
    "test_cmd": ["pytest", "-q", "-p", "no:cacheprovider"],
    "min_test_num": 5,
    "max_f2p_num": 2,
    "timeout_run": 300,
    "library_name": "cachetools",
}


@pytest.fixture(scope="module")
def specs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("ray-specs")
    specs = {**feature_specs(work, ("geom", "shapes")), "SPECS_CACHETOOLS": CACHETOOLS}
    return write_specs(work / "specs.py", specs)


@pytest.fixture(scope="module")
def local_cases(specs: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    work = tmp_path_factory.mktemp("local")
    return case_bytes(build(specs, work / "out", work / "cache", "--jobs", "2"))


def ray_nodes(run: Path) -> set[str]:
    log = (run / "logs" / "fbench.log").read_text()
    return set(re.findall(r"ran on Ray node (\w+)", log))


@pytest.fixture(scope="module")
def ray_run(specs: Path, ray_cluster: RayCluster, tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("ray")
    started = time.monotonic()
    address = ["--executor", "ray", "--ray-address", ray_cluster.address]
    run = build(specs, work / "out", work / "cache", "--jobs", "2", *address)
    print(f"\nray run: {time.monotonic() - started:.0f}s", file=sys.stderr)
    return run


def test_ray_makes_the_cases_local_makes(ray_run: Path, local_cases: dict[str, bytes]) -> None:
    assert case_bytes(ray_run) == local_cases
    assert len(ray_nodes(ray_run)) == 2  # the specs were spread over both nodes
    summary = (ray_run / "logs" / "summary.txt").read_text()
    assert "SPECS_CACHETOOLS:" in summary
    assert "stopped" not in summary
    assert not list(ray_run.glob("metadata_outputs/journal/**/.*.tmp"))


def graded(run: Path, report: Path, *args: str) -> dict[str, str]:
    """``fbench eval`` of the gold patches; each instance's status."""
    command = ["eval", "--cases", str(run), "--predictions", "gold", "--report", str(report)]
    result = CliRunner().invoke(cli, [*command, "--jobs", "2", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    (data,) = [json.loads(p.read_text()) for p in report.glob("*/*.json")]
    return {iid: row["status"] for iid, row in data["instances"].items()}


def test_eval_on_ray_grades_each_case_as_local_does(
    ray_run: Path, ray_cluster: RayCluster, tmp_path: Path
) -> None:
    """One Ray task per case: the case directory travels as data, the logs come back."""
    local = graded(ray_run, tmp_path / "local")
    on_ray = graded(
        ray_run, tmp_path / "ray", "--executor", "ray", "--ray-address", ray_cluster.address
    )
    assert on_ray == local
    assert set(on_ray.values()) == {"resolved"}
    for iid in on_ray:
        assert any((tmp_path / "ray").glob(f"*/logs/{iid}/*")), f"no logs came back for {iid}"


def _spec_task_on(cluster: RayCluster) -> bool:
    """A spec task runs on the second node (Ray titles its worker process ray::_spec_task)."""
    for pid in cluster.worker.pids():
        try:
            if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"ray::_spec_task"):
                return True
        except OSError:
            continue
    return False


def test_a_node_killed_mid_run_loses_no_case(
    specs: Path, local_cases: dict[str, bytes], ray_cluster: RayCluster, tmp_path: Path
) -> None:
    """SIGKILL every process of the second node while it runs a spec: Ray runs that
    spec again on the head, and the run ends with the undisturbed run's cases."""
    out = tmp_path / "out"
    command = [str(Path(sys.executable).parent / "fbench"), "build-cases"]
    command += ["--config-path", str(specs), "--output-dir", str(out)]
    command += ["--cache-dir", str(tmp_path / "cache"), "--jobs", "2"]
    command += ["--executor", "ray", "--ray-address", ray_cluster.address]
    with (tmp_path / "fbench.log").open("wb") as log:
        run = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 600
        while not _spec_task_on(ray_cluster):
            assert run.poll() is None, (tmp_path / "fbench.log").read_text()
            assert time.monotonic() < deadline, "no spec task ever ran on the second node"
            time.sleep(0.5)
        time.sleep(3)  # well into the spec's stages
        ray_cluster.worker.kill()
        assert run.wait(1800) == 0, (tmp_path / "fbench.log").read_text()
    finally:
        if run.poll() is None:
            os.kill(run.pid, signal.SIGKILL)
        ray_cluster.restart_worker()  # for the tests after this one
    (root,) = out.glob("[0-9]*/*")
    assert case_bytes(root) == local_cases
