"""Cost of ``--fb-trace`` on real suites, beside plain pytest and coverage's per-test contexts.

Runs each suite plain, with ``--fb-trace`` and with ``--cov --cov-context=test``,
interleaved (plain, trace, cov, plain, ...) so that machine noise hits all
modes alike, and prints the median wall time of each and its ratio to plain.
"wall" is the whole process; "session" is pytest's own session time, which
leaves out interpreter start-up and shows the cost on the tests themselves.

    python benchmarks/trace_overhead.py [--repeat 5] [--python313]

``--python313`` adds runs under CPython 3.13 (sys.monitoring backend), built
from source on first use by tests/support/build_cpython.sh.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.interpreters import build_cpython, make_plugin_venv
from tests.support.sdists import unpack_sdist


@dataclass(frozen=True)
class Suite:
    name: str
    version: str
    package: str
    tests: str
    pythonpath: str = ""


SUITES = [
    Suite("more-itertools", "10.5.0", "more_itertools", "tests"),
    Suite("cachetools", "5.5.2", "cachetools", "tests", pythonpath="src"),
    Suite("toolz", "1.0.0", "toolz", "toolz/tests"),
]

MODES = {
    "plain": [],
    "fb-trace": ["-p", "featurebench", "--fb-out", "{out}", "--fb-trace"],
    "cov-context": ["-p", "pytest_cov", "--cov={package}", "--cov-context=test", "--cov-report="],
}

_SESSION_TIME = re.compile(r" in ([0-9.]+)s")


def run_once(python: Path, suite: Suite, root: Path, mode: str, out: Path) -> tuple[float, float]:
    args = [a.format(out=out, package=suite.package) for a in MODES[mode]]
    command = [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", *args, suite.tests]
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTHONPATH": suite.pythonpath}
    started = time.perf_counter()
    done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{suite.name} {mode} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    session = float(_SESSION_TIME.findall(done.stdout)[-1])
    return wall, session


def measure(python: Path, suite: Suite, repeat: int, work: Path) -> dict[str, tuple[float, float]]:
    root = unpack_sdist(
        suite.name, suite.version, work / f"{python.parent.parent.name}-{suite.name}"
    )
    samples: dict[str, list[tuple[float, float]]] = {mode: [] for mode in MODES}
    run_once(python, suite, root, "plain", work / "warmup.jsonl")  # byte-compile, warm caches
    for _ in range(repeat):
        for mode in MODES:
            samples[mode].append(run_once(python, suite, root, mode, work / "records.jsonl"))
    return {
        mode: (statistics.median(w for w, _ in runs), statistics.median(s for _, s in runs))
        for mode, runs in samples.items()
    }


def report(label: str, suite: Suite, medians: dict[str, tuple[float, float]]) -> None:
    plain_wall, plain_session = medians["plain"]
    print(f"\n{label}  {suite.name}=={suite.version}")
    print(f"  {'mode':<12} {'wall s':>8} {'ratio':>7} {'session s':>10} {'ratio':>7}")
    for mode, (wall, session) in medians.items():
        print(
            f"  {mode:<12} {wall:>8.2f} {wall / plain_wall:>6.2f}x {session:>10.2f}"
            f" {session / plain_session:>6.2f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--python313", action="store_true", help="Also measure sys.monitoring on 3.13."
    )
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fb-bench-") as tmp:
        work = Path(tmp)
        pythons = [(f"python {sys.version.split()[0]} (profile backend)", Path(sys.executable))]
        if options.python313:
            venv = make_plugin_venv(build_cpython("3.13"), work / "venv313")
            pythons.append(("python 3.13 (sys.monitoring backend)", venv))
        for label, python in pythons:
            for suite in SUITES:
                report(label, suite, measure(python, suite, options.repeat, work))


if __name__ == "__main__":
    main()
