"""Cold and warm times of the same ``fbench build-cases`` run, side by side.

The cold run starts from an empty cache (download, environment, scan, run);
the warm run repeats it with that cache and should find every result there.
Target: warm <= 5% of cold.

    python benchmarks/cache_rerun.py [--spec specs/example_specs.py] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def build(specs: Path, work: Path, cache: Path) -> float:
    fbench = Path(sys.executable).parent / "fbench"
    command = [
        str(fbench),
        "build-cases",
        "--config-path",
        str(specs),
        "--output-dir",
        str(work / "out"),
        "--cache-dir",
        str(cache),
        "--debug",
        "end=runner",
    ]
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, default=ROOT / "specs" / "example_specs.py")
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    cold: list[float] = []
    warm: list[float] = []
    for _ in range(options.repeat):
        with tempfile.TemporaryDirectory(prefix="fb-cache-bench-") as tmp:
            work = Path(tmp)
            cold.append(build(options.spec, work, work / "cache"))
            warm.append(build(options.spec, work, work / "cache"))
    cold_s, warm_s = statistics.median(cold), statistics.median(warm)
    print(f"spec: {options.spec.name}, {options.repeat} pairs, median wall time")
    print(f"  cold  {cold_s:7.2f} s   1.000")
    print(f"  warm  {warm_s:7.2f} s   {warm_s / cold_s:.3f}  (target <= 0.050)")


if __name__ == "__main__":
    main()
