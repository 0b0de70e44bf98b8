"""Wall time per valid case and yield, for the whole pipeline on real sdists.

Each spec runs ``fbench build-cases`` from an empty cache (download,
environment, scan, run, trace, top, p2p, data), once per repeat. Printed per
spec: the median wall time, the F2P candidates, the files with valid cases
(yield = valid / candidates) and the seconds per valid case, beside the
targets (under 60 s per case on 2 cores, at least 60% yield). The data
stage's own share is shown apart, from the run's summary.

    python benchmarks/cases_per_repo.py [--specs specs/example_specs.py ...] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 60.0
TARGET_YIELD = 0.6


def build(specs: Path, work: Path) -> tuple[float, Path]:
    fbench = Path(sys.executable).parent / "fbench"
    command = [str(fbench), "build-cases", "--config-path", str(specs)]
    command += ["--output-dir", str(work / "out"), "--cache-dir", str(work / "cache")]
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    elapsed = time.perf_counter() - started
    (run,) = (work / "out").glob("*/*")
    return elapsed, run


def measure(specs: Path) -> dict[str, list[float]]:
    figures: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="fb-cases-bench-") as tmp:
        elapsed, run = build(specs, Path(tmp))
        status = json.loads((run / "metadata_outputs" / "data_status.json").read_text())
        summary = json.loads((run / "metadata_outputs" / "summary.json").read_text())
        data_seconds = summary["stages"]["data"]["seconds"]
        for name, entry in status.items():
            row = figures.setdefault(name, [])
            row += [elapsed, entry["f2p_candidates"], entry["valid_files"], entry["cases"]]
            row.append(data_seconds)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = [
        ROOT / "specs" / name
        for name in ("example_specs.py", "example_specs.toml", "more_specs.toml")
    ]
    parser.add_argument("--specs", type=Path, nargs="+", default=default)
    parser.add_argument("--repeat", type=int, default=1)
    options = parser.parse_args()
    header = f"{'spec':<18} {'wall s':>7} {'data s':>7} {'F2P':>4} {'valid':>5} {'cases':>5}"
    print(f"{header} {'yield':>6} {'s/valid':>8}   targets: <{TARGET_SECONDS:.0f} s, >=60%")
    for specs in options.specs:
        runs = [measure(specs) for _ in range(options.repeat)]
        for name in runs[0]:
            wall = statistics.median(r[name][0] for r in runs)
            data = statistics.median(r[name][4] for r in runs)
            _, candidates, valid, cases, _ = runs[0][name]
            rate = valid / candidates if candidates else 0.0
            per_case = wall / valid if valid else float("inf")
            print(
                f"{name:<18} {wall:>7.1f} {data:>7.1f} {candidates:>4.0f} {valid:>5.0f}"
                f" {cases:>5.0f} {rate:>6.0%} {per_case:>8.1f}"
                f"   {'ok' if per_case < TARGET_SECONDS else 'SLOW'}"
                f" {'ok' if rate >= TARGET_YIELD else 'LOW'}"
            )


if __name__ == "__main__":
    main()
