"""How often a half-flaky and two order-dependent tests are caught, old evidence against new.

A small project gets a real virtualenv once. Each trial takes a fresh copy of
it and replays the runs a test meets on its way into a case: the runner (the
file, failing tests rerun alone, the file again when one passed alone), the
dynamic stage's traced run (a test that fails there is not a candidate), the
gold check (the case's files once) and the final reruns (``stability_runs``
= 3: twice more in order, once reversed). The old evidence is the runner's
first run and one rerun alone of the failing tests. A test is *caught* when
it cannot reach a case: named unstable, or failing a run that must pass.
Target: the half-flaky test in >= 95% of trials, the order-dependent ones in all.

    python benchmarks/flaky_detection.py [--trials 20]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from orchestrator.stages.data_checks import Runner  # noqa: E402
from orchestrator.stages.stability import Kind, rerun_unstable, unstable_tests  # noqa: E402
from tests.support.projects import installed_environment, write_tree  # noqa: E402

FILE = "tests/test_suite.py"
SUITE = """\
import random

from orders import SEEN


def test_half_flaky():
    assert random.random() < 0.5


def test_dirties():
    SEEN.append(1)


def test_clean_after_dirties():
    assert 1 not in SEEN


def test_fill():
    SEEN.append(2)


def test_needs_fill_first():
    assert 2 in SEEN
"""
PROJECT = {
    "pyproject.toml": (
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "orders"\nversion = "0"\n[tool.setuptools]\npackages = ["orders"]\n'
    ),
    "orders/__init__.py": "SEEN = []\n",
    FILE: SUITE,
}
WATCHED = {
    "half-flaky": f"{FILE}::test_half_flaky",
    "broken by an earlier test": f"{FILE}::test_clean_after_dirties",
    "needs an earlier test": f"{FILE}::test_needs_fill_first",
}
KINDS = {"half-flaky": "flaky"}  # the others are order-dependent


def runner_evidence(runner: Runner, tree: Path) -> tuple[dict[str, str], set[str], dict[str, Kind]]:
    """First run's outcomes; failing tests caught by the old rule; and by the new one."""
    first = runner.pytest(tree, [FILE], "bench", "first").outcomes()
    failing = [t for t, o in first.items() if o in ("failed", "error")]
    alone = runner.pytest(tree, failing, "bench", "alone").outcomes() if failing else {}
    old = {t for t in failing if alone.get(t) == "passed"}
    usual = [first]
    if old:
        usual.append(runner.pytest(tree, [FILE], "bench", "again").outcomes())
    return first, old, unstable_tests(usual, [alone], failing)


def trial(runner: Runner, tree: Path) -> tuple[set[str], set[str], dict[str, Kind]]:
    """The watched tests the old and the new evidence keep out of a case; the kinds named."""
    first, old, named = runner_evidence(runner, tree)
    old_caught = old | {t for t in WATCHED.values() if first.get(t) != "passed"}
    new_caught = set(named) | {t for t in WATCHED.values() if first.get(t) != "passed"}
    tests = [t for t in first if t not in new_caught]
    for step in ("traced", "gold"):  # each must pass: dynamic's run, then the gold check
        outcomes = runner.pytest(tree, [FILE], "bench", step).outcomes()
        new_caught |= {t for t in tests if outcomes.get(t) != "passed"}
        tests = [t for t in tests if t not in new_caught]
    final = rerun_unstable(runner, tree, [FILE], tests, runs=3)
    return old_caught, new_caught | set(final), {**named, **final}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fb-flaky-bench-") as tmp:
        work = Path(tmp)
        source = write_tree(work / "orders", PROJECT)
        env = installed_environment(source, work, "bench")
        counts = {name: [0, 0, 0] for name in WATCHED}
        for number in range(options.trials):
            tree = Path(shutil.copytree(source, work / f"trial{number}"))
            runner = Runner(env, env.spec, work / "logs", "bench", FILE, ["."])
            old, new, named = trial(runner, tree)
            for name, test in WATCHED.items():
                counts[name][0] += test in old
                counts[name][1] += test in new
                counts[name][2] += named.get(test) == KINDS.get(name, "order-dependent")
        report(counts, options.trials)


def report(counts: dict[str, list[int]], trials: int) -> None:
    print(f"caught out of {trials} trials (named with the right kind, new evidence)")
    print(f"{'test':<28} {'old':>6} {'new':>6} {'named':>6} {'new/old':>8}")
    for name, (old, new, named) in counts.items():
        ratio = f"{new / old:.2f}x" if old else "-"
        print(f"{name:<28} {old:>6} {new:>6} {named:>6} {ratio:>8}")


if __name__ == "__main__":
    main()
