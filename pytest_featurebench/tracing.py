"""The tracer protocol and the one function that picks a backend.

A tracer records one unit at a time: the collection, or one test. A test's
unit is started at its setup, paused between setup and call (pytest's own
reporting runs there), resumed for the call and finished after it. Finishing
hands back the project functions that ran, each with the smallest depth seen,
split into calls made by the tests and calls made while a module body was
running (import time). One unit per test, rather than one per phase, halves
the fixed cost that every unit carries.
"""

from __future__ import annotations

import sys
from typing import Protocol

from pytest_featurebench.calls import PhaseCalls
from pytest_featurebench.scope import ProjectScope

TRACER_NAMES = ("auto", "monitoring", "rewrite", "profile")


class Tracer(Protocol):
    name: str

    def start(self) -> None:
        """Begin recording a new unit."""

    def pause(self) -> None:
        """Stop recording for now and put back whatever hook was there before."""

    def resume(self) -> None:
        """Record again, into the same unit."""

    def finish(self) -> PhaseCalls:
        """End the unit (pausing it first if needed) and return what it ran."""

    def close(self) -> None:
        """Release everything the tracer holds; it is not started again."""


def resolve_tracer_name(name: str) -> str:
    """``auto`` is sys.monitoring on 3.12+ and the rewriting import hook before."""
    if name == "auto":
        return "monitoring" if sys.version_info >= (3, 12) else "rewrite"
    return name


def make_tracer(name: str, scope: ProjectScope) -> Tracer:
    """The one place that chooses a backend; ``name`` is already validated."""
    name = resolve_tracer_name(name)
    if name == "monitoring":
        from pytest_featurebench.tracer_monitoring import MonitoringTracer

        return MonitoringTracer(scope)
    if name == "rewrite":
        from pytest_featurebench.tracer_rewrite import RewriteTracer

        return RewriteTracer(scope)
    from pytest_featurebench.tracer_profile import ProfileTracer

    return ProfileTracer(scope)
