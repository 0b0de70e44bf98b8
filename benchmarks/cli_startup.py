"""Startup cost of the ``fbench`` command: ``--help``, ``--version`` and each command's help.

Each is run as a fresh process (``python -m orchestrator.cli``, the console
script's code) and timed as wall time and as CPU time (user + system of the
child); the baseline is the same interpreter importing only click, the least
a click command can cost. Printed side by side: median seconds and the ratio
to the baseline. The target is ``--help`` under 0.5 s.

    python benchmarks/cli_startup.py [--repeat 7]

It also lists the heavy modules that ``fbench --help`` imported (none should be).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time

HEAVY = ("openai", "matplotlib", "docker", "rich", "datasets", "dulwich", "msgspec", "numpy")
MAIN = "from orchestrator.cli import main; import sys; sys.argv[0] = 'fbench'; main()"
CASES = {
    "baseline: import click": ["-c", "import click"],
    "fbench --version": ["-c", MAIN, "--version"],
    "fbench --help": ["-c", MAIN, "--help"],
    "fbench eval --help": ["-c", MAIN, "eval", "--help"],
    "fbench export --help": ["-c", MAIN, "export", "--help"],
    "fbench build-cases --help": ["-c", MAIN, "build-cases", "--help"],
}


def run_once(argv: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([sys.executable, *argv], stdout=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def heavy_imports() -> list[str]:
    """The heavy top-level packages in ``sys.modules`` after ``fbench --help``."""
    probe = (
        "import sys, contextlib, io\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    from orchestrator.cli import cli; cli(['--help'], prog_name='fbench')\n"
        f"print(' '.join(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    return found.stdout.split()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    medians = {}
    for name, argv in CASES.items():
        runs = [run_once(argv) for _ in range(args.repeat)]
        medians[name] = tuple(statistics.median(column) for column in zip(*runs, strict=True))
    base_wall, base_cpu = medians["baseline: import click"]
    print(f"{'command':30} {'wall s':>8} {'x base':>7} {'cpu s':>8} {'x base':>7}")
    for name, (wall, cpu) in medians.items():
        print(f"{name:30} {wall:8.3f} {wall / base_wall:7.2f} {cpu:8.3f} {cpu / base_cpu:7.2f}")
    print(f"heavy modules imported by --help: {' '.join(heavy_imports()) or 'none'}")


if __name__ == "__main__":
    main()
