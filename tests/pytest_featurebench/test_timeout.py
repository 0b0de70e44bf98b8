"""``--fb-timeout`` beside pytest-timeout: a suite's own timeout plugin wins, and we say so."""

from __future__ import annotations

import pytest

from pytest_featurebench import records as rec
from tests.conftest import Inner, InnerRun

SLOW = """
import time


def test_hangs():
    time.sleep(60)
"""


def call_outcomes(done: InnerRun) -> dict[str, rec.AnyRecord]:
    return {r.nodeid: r for r in done.of_type(rec.PhaseReport) if r.phase == "call"}


def test_a_configured_pytest_timeout_handles_timeouts(
    pytester: pytest.Pytester, inner311: Inner
) -> None:
    """With ``--timeout`` given, pytest-timeout cuts the test and the summary says ours is off."""
    pytester.makepyfile(test_slow=SLOW)
    done = inner311.run(
        pytester.path, "-p", "pytest_timeout", "--timeout", "0.5", "--fb-timeout", "30"
    )
    calls = call_outcomes(done)
    assert calls["test_slow.py::test_hangs"].outcome == "failed"
    assert "Timeout (>0.5s" in str(calls["test_slow.py::test_hangs"].summary)
    assert (
        "featurebench: --fb-timeout 30s not armed: pytest-timeout is configured (timeout 0.5s)"
        in done.result.stdout
    )


def test_without_pytest_timeout_the_guard_runs(pytester: pytest.Pytester, inner311: Inner) -> None:
    """pytest-timeout's ini key alone, with the plugin not loaded, changes nothing."""
    pytester.makeini("[pytest]\ntimeout = 100\n")
    pytester.makepyfile(test_slow=SLOW)
    done = inner311.run(pytester.path, "--fb-timeout", "0.5", "-k", "hangs")
    assert call_outcomes(done)["test_slow.py::test_hangs"].outcome == "failed"
    assert "ran longer than 0.5s" in str(call_outcomes(done)["test_slow.py::test_hangs"].summary)
