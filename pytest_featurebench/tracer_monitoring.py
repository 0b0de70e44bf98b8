"""Tracer backend for Python 3.12+: ``sys.monitoring`` (PEP 669).

Only PY_START events are asked for. The first time a code object starts, the
callback decides what it is (cached per code object). Code that is not the
project's gets DISABLE, which switches the event off for that code object for
the rest of the session: it costs one callback, ever. Events are never
restarted, because ``restart_events()`` would switch every such location on
again at every test.

Project code stays on, and is recorded once per unit (a test, or the
collection). Between units a flag, not ``set_events()``, stops recording:
changing the event set would make CPython instrument every code object again.
Depths come from :class:`~pytest_featurebench.sightings.Sightings`; once a
function is settled for the unit the callback returns at once, on a set lookup.

Events fire in every thread, so threads started by a test are covered.
"""

from __future__ import annotations

import sys
from types import CodeType
from typing import Any

from pytest_featurebench.scope import Kind, ProjectScope
from pytest_featurebench.sightings import SightingTracer

# 0 is for debuggers, 1 coverage.py, 2 profilers (cProfile uses it on 3.12+),
# 5 optimizers; 3 and 4 are free for tools like us.
_TOOL_IDS = (4, 3)


class MonitoringTracer(SightingTracer):
    name = "monitoring"

    def __init__(self, scope: ProjectScope):
        super().__init__(scope)
        self._scope = scope
        self._monitoring: Any = sys.monitoring  # type: ignore[attr-defined,unused-ignore]
        self._tool = self._claim_tool_id()
        self._settled: set[int] = set()  # project code seen as shallow as it can be
        self._events_on = False
        events = self._monitoring.events
        self._monitoring.register_callback(self._tool, events.PY_START, self._on_start)

    def _claim_tool_id(self) -> int:
        for tool in _TOOL_IDS:
            if self._monitoring.get_tool(tool) is None:
                self._monitoring.use_tool_id(tool, "featurebench")
                return tool
        raise RuntimeError(f"sys.monitoring tool ids {_TOOL_IDS} are all taken")

    def start(self) -> None:
        self._sightings.reset()
        self._settled = set()
        self.resume()

    def resume(self) -> None:
        # Events are set once; pausing clears a flag. Changing the event set
        # makes CPython instrument every code object again, most of a test's cost.
        if not self._events_on:
            self._monitoring.set_events(self._tool, self._monitoring.events.PY_START)
            self._events_on = True
        self._recording = True

    def close(self) -> None:
        self._recording = False
        self._monitoring.set_events(self._tool, 0)
        self._monitoring.register_callback(self._tool, self._monitoring.events.PY_START, None)
        self._monitoring.free_tool_id(self._tool)

    def _on_start(self, code: CodeType, offset: int) -> Any:
        if id(code) in self._settled:
            return None
        if not self._recording:  # between units: decide nothing, keep project code on
            kind = self._scope.classify(code)[0]
            return None if kind is Kind.PROJECT else self._monitoring.DISABLE
        kind, function = self._scope.classify(code)
        if kind is not Kind.PROJECT or function is None:
            return self._monitoring.DISABLE
        if self._sightings.see(function, sys._getframe(1)):
            self._settled.add(id(code))
        return None
