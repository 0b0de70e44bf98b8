"""Flaky and order-dependent tests, told apart from the runs a test gets.

A test's runs fall in two groups: those in its usual order (the whole file,
the case's files in order) and those in another order (alone, or the case's
tests reversed). A test that passes in some runs and fails in others of the
same group is **flaky**; one whose outcome is steady within each group but
differs between them is **order-dependent** (it needs, or is broken by,
another test run before it). A test that fails everywhere is neither: it
simply fails.

The runner gives the first evidence (its file run, failing tests rerun alone,
the file once more when one of them passed alone); the data stage ends with
:func:`confirm_stable`: the case's fail-to-pass and pass-to-pass tests run
``stability_runs`` more times on the gold tree, the last run in reverse order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Literal

from orchestrator.stages.data_checks import Dropped, Runner, Verdict

Kind = Literal["flaky", "order-dependent"]
Outcomes = Mapping[str, str]  # nodeid -> passed, failed, skipped, error, ...


def unstable_tests(
    usual: Sequence[Outcomes], other: Sequence[Outcomes], tests: Iterable[str]
) -> dict[str, Kind]:
    """Each test of ``tests`` whose outcomes disagree, with its kind."""
    found: dict[str, Kind] = {}
    for test in tests:
        kind = _kind(_passes(usual, test), _passes(other, test))
        if kind is not None:
            found[test] = kind
    return found


def _passes(runs: Sequence[Outcomes], test: str) -> list[bool]:
    """Whether ``test`` passed, in each run that ran it."""
    return [run[test] == "passed" for run in runs if test in run]


def _kind(usual: list[bool], other: list[bool]) -> Kind | None:
    if len(set(usual)) > 1 or len(set(other)) > 1:
        return "flaky"
    if usual and other and usual[0] != other[0]:
        return "order-dependent"
    return None


def describe(unstable: Mapping[str, Kind]) -> str:
    """``a (flaky), b (order-dependent)``: the tests and their kinds, for a reason."""
    return ", ".join(f"{test} ({kind})" for test, kind in sorted(unstable.items()))


def confirm_stable(runner: Runner, tree: Path, verdict: Verdict, runs: int) -> None:
    """Drop the case when one of its tests proves unstable on ``tree``, the gold tree.

    A pass-to-pass test that is only order-dependent leaves PASS_TO_PASS instead: it
    is steady in its file's order, which grading keeps, and suites that number their
    tests to run in order (``test_02_link`` needs ``test_01_check``) are common.
    """
    tests = [*verdict.fail_to_pass, *verdict.pass_to_pass]
    unstable = rerun_unstable(runner, tree, [runner.file, *verdict.p2p_files], tests, runs)
    ordered = {
        test
        for test, kind in unstable.items()
        if kind == "order-dependent" and test not in verdict.fail_to_pass
    }
    if len(ordered) < len(unstable):
        raise Dropped("stability", f"{len(unstable)} unstable: {describe(unstable)}")
    if ordered:
        verdict.pass_to_pass = [t for t in verdict.pass_to_pass if t not in ordered]
        said = describe({t: unstable[t] for t in ordered})
        verdict.notes.append(f"left out of PASS_TO_PASS, order-dependent: {said}")
        _keep_files_with_tests(runner, verdict)


def _keep_files_with_tests(runner: Runner, verdict: Verdict) -> None:
    """Only P2P files that still hold a PASS_TO_PASS test: grading restores the others over
    the agent's work (a doctest module is known as one by its items), so too few is a drop."""
    left = {test.partition("::")[0] for test in verdict.pass_to_pass}
    verdict.p2p_files = [path for path in verdict.p2p_files if path in left]
    need = runner.spec.min_p2p_files
    if len(verdict.p2p_files) + (runner.file in left) < need:
        raise Dropped("stability", f"order-dependent tests leave too few P2P files; need {need}")


def rerun_unstable(
    runner: Runner, tree: Path, files: list[str], tests: list[str], runs: int
) -> dict[str, Kind]:
    """Run ``files`` ``runs`` - 1 more times and ``tests`` once reversed; who disagreed, how.

    Every test of ``tests`` has passed once on ``tree`` already (the gold check):
    that run counts as the first of the usual order.
    """
    if runs < 1:
        return {}
    usual: list[Outcomes] = [dict.fromkeys(tests, "passed")]
    for attempt in range(1, runs):
        run = runner.pytest(tree, files, "f2p_validate", f"stable{attempt}", rerun=attempt)
        usual.append(run.outcomes())
    reverse = runner.pytest(tree, tests[::-1], "f2p_validate", "reversed").outcomes()
    return unstable_tests(usual, [reverse], tests)
