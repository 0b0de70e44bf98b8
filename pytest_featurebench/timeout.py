"""``--fb-timeout SECONDS``: fail any test whose setup, call and teardown take longer.

The clock is ``setitimer(ITIMER_REAL)`` and the failure is raised from the
SIGALRM handler in the main thread, which interrupts sleeps and pure-Python
loops alike. Where there is no SIGALRM (Windows) the option is refused.

pytest-timeout, when loaded and given a timeout (``--timeout``, the ``timeout``
ini key or ``PYTEST_TIMEOUT``), is the suite's own choice: the option then
arms nothing and says so in the terminal summary.
"""

from __future__ import annotations

import os
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


class DeferredTimeout:
    """Stands in for the guard when pytest-timeout is configured, and says so."""

    def __init__(self, seconds: float, theirs: str):
        self.seconds = seconds
        self.theirs = theirs

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        terminalreporter.write_line(
            f"featurebench: --fb-timeout {self.seconds:g}s not armed: pytest-timeout is"
            f" configured (timeout {self.theirs}) and handles timeouts"
        )


def timeout_plugin(config: pytest.Config, seconds: float) -> TimeoutGuard | DeferredTimeout:
    """The guard for ``--fb-timeout``, unless pytest-timeout already has a timeout."""
    theirs = pytest_timeout_setting(config)
    return TimeoutGuard(seconds) if theirs is None else DeferredTimeout(seconds, theirs)


def pytest_timeout_setting(config: pytest.Config) -> str | None:
    """The timeout pytest-timeout is given, if it is loaded and given one."""
    if not _has_pytest_timeout(config):
        return None
    for value in (
        config.getoption("timeout", None),
        config.getini("timeout"),
        os.environ.get("PYTEST_TIMEOUT"),
    ):
        try:
            if value is not None and value != "" and float(value) > 0:
                return f"{float(value):g}s"
        except ValueError:
            continue  # pytest-timeout itself reports a value it cannot read
    return None


def _has_pytest_timeout(config: pytest.Config) -> bool:
    # Registered as "timeout" through its entry point, or under its module name with -p.
    manager = config.pluginmanager
    return manager.hasplugin("timeout") or manager.hasplugin("pytest_timeout")


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
