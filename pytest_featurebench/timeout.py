"""``--fb-timeout SECONDS``: fail any test whose setup, call and teardown take longer.

The clock is ``setitimer(ITIMER_REAL)`` and the failure is raised from the
SIGALRM handler in the main thread, which interrupts sleeps and pure-Python
loops alike. Where there is no SIGALRM (Windows) the option is refused.
"""

from __future__ import annotations

import signal
from collections.abc import Generator
from typing import Any

import pytest


class TestTimeout(Exception):
    """Raised inside a test that ran out of time."""

    __test__ = False


class TimeoutGuard:
    def __init__(self, seconds: float):
        self.seconds = seconds

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Generator[None, Any, None]:
        previous = signal.signal(signal.SIGALRM, self._expire)
        signal.setitimer(signal.ITIMER_REAL, self.seconds)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

    def _expire(self, signum: int, frame: Any) -> None:
        # Disarm first: teardown runs after this and must not be interrupted again.
        signal.setitimer(signal.ITIMER_REAL, 0)
        raise TestTimeout(f"Timeout: the test ran longer than {self.seconds:g}s (--fb-timeout)")


def timeout_seconds(value: str) -> float:
    """The ``type=`` of ``--fb-timeout``: a positive number of seconds."""
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if seconds <= 0:
        raise pytest.UsageError(f"--fb-timeout {value}: expected a number of seconds > 0")
    if not hasattr(signal, "SIGALRM"):
        raise pytest.UsageError("--fb-timeout needs SIGALRM, which this platform does not have")
    return seconds
