"""What one pytest session's records say of a test."""

from __future__ import annotations

from orchestrator.pipeline.process import CommandResult
from orchestrator.pipeline.pytest_runs import PytestRun
from pytest_featurebench import records as rec


def test_a_test_the_run_never_reported_is_described_as_not_collected() -> None:
    """isodate's ids took their index from a set holding None (hashed by address before
    Python 3.12): the gold run named them anew, and the drop reason said they failed."""
    report = rec.PhaseReport(
        nodeid="t.py::test_a[x-expected7]", phase="call", outcome="failed", duration=0.0
    )
    run = PytestRun(CommandResult(("pytest",), 1, "", 0.1), [report])
    assert run.described("t.py::test_a[x-expected7]") == "t.py::test_a[x-expected7]"
    said = run.described("t.py::test_a[x-expected8]")
    assert said.startswith("t.py::test_a[x-expected8] (not collected: this run named the tests")
    assert "hashed by address" in said
