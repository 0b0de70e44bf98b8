"""Cost of ``--fb-trace`` on real suites, beside plain pytest and coverage's per-test contexts.

Runs each suite plain, with ``--fb-trace`` under each backend the interpreter
has (rewrite and profile before 3.12, monitoring on 3.13) and with ``--cov
--cov-context=test``, interleaved (plain, rewrite, profile, cov, plain, ...) so
that machine noise hits all modes alike, and prints the median wall time of
each and its ratio to plain.
"wall" is the whole process; "cpu" its user and system CPU time, which a
shared, busy machine disturbs less than wall time; "session" is pytest's own
session time, which leaves out interpreter start-up.

    python benchmarks/trace_overhead.py [--repeat 5] [--python313]

``--python313`` adds runs under CPython 3.13 (sys.monitoring backend), built
from source on first use by tests/support/build_cpython.sh; ``--suite NAME``
(repeatable) measures only those suites.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
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

TRACE = ["-p", "featurebench", "--fb-out", "{out}", "--fb-trace", "--fb-tracer"]
MODES = {
    "plain": [],
    "fb-rewrite": [*TRACE, "rewrite"],
    "fb-profile": [*TRACE, "profile"],
    "fb-monitoring": [*TRACE, "monitoring"],
    "cov-context": ["-p", "pytest_cov", "--cov={package}", "--cov-context=test", "--cov-report="],
}
# The backends worth comparing under each interpreter.
SKIP_BEFORE_312 = {"fb-monitoring"}
SKIP_FROM_312 = {"fb-profile", "fb-rewrite"}

_SESSION_TIME = re.compile(r" in ([0-9.]+)s")


Sample = tuple[float, float, float]  # wall, cpu, session seconds
COLUMNS = ("wall s", "cpu s", "session s")


def run_once(python: Path, suite: Suite, root: Path, mode: str, out: Path) -> Sample:
    args = [a.format(out=out, package=suite.package) for a in MODES[mode]]
    command = [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", *args, suite.tests]
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTHONPATH": suite.pythonpath}
    started = time.perf_counter()
    cpu_before = _children_cpu()
    done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    cpu = _children_cpu() - cpu_before
    if done.returncode != 0:
        raise SystemExit(f"{suite.name} {mode} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    session = float(_SESSION_TIME.findall(done.stdout)[-1])
    return wall, cpu, session


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def modes_of(python: Path) -> list[str]:
    probe = [str(python), "-c", "import sys; print(sys.version_info >= (3, 12))"]
    recent = subprocess.run(probe, capture_output=True, text=True, check=True).stdout.strip()
    skip = SKIP_FROM_312 if recent == "True" else SKIP_BEFORE_312
    return [mode for mode in MODES if mode not in skip]


def measure(python: Path, suite: Suite, repeat: int, work: Path) -> dict[str, Sample]:
    root = unpack_sdist(
        suite.name, suite.version, work / f"{python.parent.parent.name}-{suite.name}"
    )
    modes = modes_of(python)
    samples: dict[str, list[Sample]] = {mode: [] for mode in modes}
    run_once(python, suite, root, "plain", work / "warmup.jsonl")  # byte-compile, warm caches
    for _ in range(repeat):
        for mode in modes:
            samples[mode].append(run_once(python, suite, root, mode, work / "records.jsonl"))
    return {mode: _medians(runs) for mode, runs in samples.items()}


def _medians(runs: list[Sample]) -> Sample:
    wall, cpu, session = (statistics.median(column) for column in zip(*runs, strict=True))
    return wall, cpu, session


def report(label: str, suite: Suite, medians: dict[str, Sample]) -> None:
    plain = medians["plain"]
    print(f"\n{label}  {suite.name}=={suite.version}")
    print(f"  {'mode':<14}" + "".join(f" {c:>10} {'ratio':>6}" for c in COLUMNS))
    for mode, values in medians.items():
        cells = (f" {v:>10.2f} {v / p:>5.2f}x" for v, p in zip(values, plain, strict=True))
        print(f"  {mode:<14}" + "".join(cells), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--python313", action="store_true", help="Also measure sys.monitoring on 3.13."
    )
    parser.add_argument("--suite", action="append", default=[], help="Only this suite.")
    parser.add_argument(
        "--no-current", action="store_true", help="Skip this interpreter (with --python313)."
    )
    options = parser.parse_args()
    suites = [s for s in SUITES if not options.suite or s.name in options.suite]
    with tempfile.TemporaryDirectory(prefix="fb-bench-") as tmp:
        work = Path(tmp)
        pythons = (
            []
            if options.no_current
            else [(f"python {sys.version.split()[0]}", Path(sys.executable))]
        )
        if options.python313:
            venv = make_plugin_venv(build_cpython("3.13"), work / "venv313")
            pythons.append(("python 3.13 (sys.monitoring backend)", venv))
        for label, python in pythons:
            for suite in suites:
                report(label, suite, measure(python, suite, options.repeat, work))


if __name__ == "__main__":
    main()
