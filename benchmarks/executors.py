"""Executors side by side: the same specs built stage by stage, streamed on this
machine, and streamed as Ray tasks on a local two-node cluster.

Each run starts from an empty cache. Printed per executor: wall seconds, CPU
seconds (fbench, what it ran, and for Ray every process of the cluster), both
as ratios to the stage-by-stage baseline, and per spec the seconds from the
start of the run to its first case.

    python benchmarks/executors.py [--specs specs.py] [--jobs 2] [--skip-ray]

Without ``--specs``: three copies of the test suite's small feature project,
each its own git repository, made in a temporary directory.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.orchestrator.executors.runs import feature_specs, write_specs  # noqa: E402
from tests.support.raycluster import RayCluster, start_cluster  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Result:
    wall: float
    cpu: float
    first_case: dict[str, float] = field(default_factory=dict)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cluster_cpu(cluster: RayCluster | None) -> float:
    """CPU seconds of every live process of the cluster (its workers run the specs)."""
    if cluster is None:
        return 0.0
    total = 0
    for pid in cluster.head.pids() + cluster.worker.pids():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
    return total / TICKS


def build(specs: Path, work: Path, args: list[str], cluster: RayCluster | None) -> Result:
    fbench = Path(sys.executable).parent / "fbench"
    command = [str(fbench), "build-cases", "--config-path", str(specs)]
    command += ["--output-dir", str(work / "out"), "--cache-dir", str(work / "cache"), *args]
    cpu, cluster_before, started = children_cpu(), cluster_cpu(cluster), time.time()
    work.mkdir(parents=True, exist_ok=True)
    with (work / "fbench.log").open("wb") as log:
        code = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT).returncode
    wall = time.time() - started
    if code != 0:
        sys.exit(f"{' '.join(args)}: exit {code}; see {work / 'fbench.log'}")
    used = children_cpu() - cpu + cluster_cpu(cluster) - cluster_before
    (run,) = (work / "out").glob("[0-9]*/*")
    return Result(wall, used, first_cases(run, started))


def first_cases(run: Path, started: float) -> dict[str, float]:
    """Seconds from the start to each repository's first case directory."""
    firsts: dict[str, float] = {}
    for case in (run / "cases").glob("*/*"):
        if case.name.startswith("."):
            continue
        name = case.parent.name.split(".")[0]
        firsts[name] = min(firsts.get(name, float("inf")), case.stat().st_mtime - started)
    return dict(sorted(firsts.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specs", type=Path)
    parser.add_argument("--jobs", default="2")
    parser.add_argument("--skip-ray", action="store_true")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fb-executors-") as folder:
        work = Path(folder)
        specs = options.specs or write_specs(
            work / "specs.py", feature_specs(work, ("geom", "shapes", "solids"))
        )
        runs = {"stagewise": ["--executor", "stagewise"], "local": ["--executor", "local"]}
        results = {
            name: build(specs, work / name, ["--jobs", options.jobs, *args], None)
            for name, args in runs.items()
        }
        if not options.skip_ray:
            results["ray"] = run_on_ray(specs, work, options.jobs)
        report(results)


def run_on_ray(specs: Path, work: Path, jobs: str) -> Result:
    started = time.monotonic()
    cluster = start_cluster()
    print(f"Ray cluster started in {time.monotonic() - started:.1f}s {cluster.start_seconds}")
    try:
        args = ["--jobs", jobs, "--executor", "ray", "--ray-address", cluster.address]
        return build(specs, work / "ray", args, cluster)
    finally:
        cluster.stop()


def report(results: dict[str, Result]) -> None:
    base = results["stagewise"]
    print(f"{'executor':<10} {'wall s':>8} {'x base':>7} {'cpu s':>8} {'x base':>7}  first case s")
    for name, result in results.items():
        firsts = ", ".join(f"{spec} {seconds:.0f}" for spec, seconds in result.first_case.items())
        print(
            f"{name:<10} {result.wall:>8.1f} {result.wall / base.wall:>7.2f}"
            f" {result.cpu:>8.1f} {result.cpu / base.cpu:>7.2f}  {firsts}"
        )


if __name__ == "__main__":
    main()
