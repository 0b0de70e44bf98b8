"""Cost of the sandbox on a real suite: unconfined, bubblewrap, and the unshare fallback.

Installs cachetools 5.5.2 from its PyPI sdist into a local environment, then runs
its test suite through the plugin (as the runner stage does) in each mode,
interleaved (none, bwrap, unshare, none, ...) so that machine noise hits all
modes alike, and prints the median wall time of each and its ratio to
``--no-sandbox``. A trivial command (``python -c pass``) shows the start-up cost
alone.

    python benchmarks/sandbox_overhead.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orchestrator.environments.local import LocalEnvironment
from orchestrator.pipeline.pytest_runs import run_pytest
from orchestrator.pipeline.specs import RepoSpec
from tests.support.sdists import unpack_sdist

MODES = ("none", "bwrap", "unshare")
WORKLOADS = ("python -c pass", "pytest tests (cachetools)")


def environment(root: Path) -> tuple[LocalEnvironment, Path]:
    repo = unpack_sdist("cachetools", "5.5.2", root / "cachetools")
    spec = RepoSpec(repository=str(repo), pip_packages=["pytest"])
    env = LocalEnvironment("bench-sandbox", spec, root / "cache")
    env.create(root / "create.log")
    env.install(repo, root / "install.log")
    return env, repo


def run_once(env: LocalEnvironment, repo: Path, mode: str, workload: str, logs: Path) -> float:
    env.sandbox_mode = None if mode == "none" else mode
    started = time.perf_counter()
    if workload.startswith("python"):
        done = env.run(["python", "-c", "pass"], repo=repo, timeout=120)
        if not done.ok:
            raise SystemExit(f"{mode}: {done.tail()}")
    else:
        run = run_pytest(
            env,
            ["pytest", "-q", "-p", "no:cacheprovider", "tests"],
            repo=repo,
            records=logs / f"{mode}.jsonl",
            timeout=600,
            log=logs / f"{mode}.log",
        )
        if not run.complete or run.result.returncode != 0:
            raise SystemExit(f"{mode}: {run.result.tail()}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fbench-bench-") as scratch:
        env, repo = environment(Path(scratch))
        print(f"{'workload':28} {'mode':8} {'median s':>9} {'ratio':>7}")
        for workload in WORKLOADS:
            times: dict[str, list[float]] = {mode: [] for mode in MODES}
            for _ in range(args.repeat):
                for mode in MODES:
                    times[mode].append(run_once(env, repo, mode, workload, Path(scratch)))
            base = statistics.median(times["none"])
            for mode in MODES:
                median = statistics.median(times[mode])
                print(f"{workload:28} {mode:8} {median:9.3f} {median / base:6.2f}x")


if __name__ == "__main__":
    main()
