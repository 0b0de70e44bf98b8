"""Seeds, validated pairs and CPU seconds per pair, offline, on real sdists; cold and warm cache.

Each specs file runs ``fbench build-pairs`` offline twice on one fresh cache:
cold (download, environment, scan, run, trace, stub checks, validation) and
warm (the same command again: every cached stage answers from the cache).
Printed per spec: seeds found, validated pairs, the validation pass rate, and
CPU seconds (fbench and every process it waited for) per validated pair and
wall seconds, cold and warm side by side with their ratio.

    python benchmarks/pairs_per_repo.py [--specs specs/example_specs.py ...] [--num-samples 10]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def build(specs: Path, work: Path, num_samples: int) -> tuple[float, float, Path]:
    """One build-pairs run; returns its wall and CPU seconds and its run directory."""
    fbench = Path(sys.executable).parent / "fbench"
    command = [str(fbench), "build-pairs", "--config-path", str(specs), "--jobs", "2"]
    command += ["--output-dir", str(work / "out"), "--cache-dir", str(work / "cache")]
    command += ["--num-samples", str(num_samples), "--global-config-path", str(work / "none")]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, sorted((work / "out").glob("[0-9]*/[0-9]*"))[-1]


def funnel(run: Path) -> dict[str, dict[str, int]]:
    report = json.loads((run / "metadata_outputs" / "pairs_report.json").read_text())
    per_spec: dict[str, dict[str, int]] = report["per_spec"]
    return per_spec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = [ROOT / "specs" / name for name in ("example_specs.py", "example_specs.toml")]
    parser.add_argument("--specs", type=Path, nargs="+", default=default)
    parser.add_argument("--num-samples", type=int, default=10)
    options = parser.parse_args()
    print(
        f"{'spec':<18} {'funcs':>5} {'seeds':>5} {'valid':>5} {'pass':>5}"
        f" {'cpu/pair cold':>13} {'warm':>6} {'wall cold':>9} {'warm':>6} {'warm/cold':>9}"
    )
    for specs in options.specs:
        with tempfile.TemporaryDirectory(prefix="fb-pairs-bench-") as tmp:
            cold_wall, cold_cpu, run = build(specs, Path(tmp), options.num_samples)
            warm_wall, warm_cpu, _ = build(specs, Path(tmp), options.num_samples)
            counted = funnel(run)  # read before the temporary directory goes
        for name, counts in counted.items():
            valid, responses = counts["validated"], counts["responses"]
            rate = valid / responses if responses else 0.0
            per = max(valid, 1)
            print(
                f"{name:<18} {counts['functions']:>5} {counts['seeds']:>5} {valid:>5}"
                f" {rate:>5.0%} {cold_cpu / per:>12.1f}s {warm_cpu / per:>5.1f}s"
                f" {cold_wall:>8.1f}s {warm_wall:>5.1f}s {warm_wall / cold_wall:>9.2f}"
            )


if __name__ == "__main__":
    main()
