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
Within a unit its depth may still shrink: a test may reach a
helper through another function first and call it directly later, so the
first ``_SIGHTINGS`` calls are read, or until one is at depth 1. After that
the callback returns at once, on a set lookup.

Depth is read from the frame stack at the call: frames are counted up to the
nearest test code, leaving out lambdas and comprehensions. A module body met
first means the call happens at import time. With no test code above (a
thread's target, a hook), depth counts project frames only.

Events fire in every thread, so threads started by a test are covered.
"""

from __future__ import annotations

import sys
from types import CodeType, FrameType
from typing import Any, Tuple  # noqa: UP035 - Python 3.9+ syntax

from pytest_featurebench.calls import Depths, PhaseCalls
from pytest_featurebench.scope import Kind, ProjectScope

_SIGHTINGS = 8
# 0 is for debuggers, 1 coverage.py, 2 profilers (cProfile uses it on 3.12+),
# 5 optimizers; 3 and 4 are free for tools like us.
_TOOL_IDS = (4, 3)


class MonitoringTracer:
    name = "monitoring"

    def __init__(self, scope: ProjectScope):
        self._scope = scope
        self._monitoring: Any = sys.monitoring  # type: ignore[attr-defined,unused-ignore]
        self._tool = self._claim_tool_id()
        self._calls: Depths = {}
        self._imports: Depths = {}
        self._sightings: dict[int, int] = {}
        self._settled: set[int] = set()  # project code seen as shallow as it can be
        self._recording = False
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
        self._calls, self._imports, self._sightings = {}, {}, {}
        self._settled = set()
        self.resume()

    def pause(self) -> None:
        # A flag, not set_events(): changing the event set makes CPython
        # instrument every code object again, which is most of a test's cost.
        self._recording = False

    def resume(self) -> None:
        if not self._events_on:
            self._monitoring.set_events(self._tool, self._monitoring.events.PY_START)
            self._events_on = True
        self._recording = True

    def finish(self) -> PhaseCalls:
        self.pause()
        return PhaseCalls(self._calls, self._imports)

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
        depth, at_import = self._depth(sys._getframe(1))
        into = self._imports if at_import else self._calls
        known = into.get(function)
        if known is None or depth < known:
            into[function] = depth
        if at_import:
            return None  # keep watching: the tests may call it later
        seen = self._sightings.get(id(code), 0) + 1
        self._sightings[id(code)] = seen
        if depth == 1 or seen >= _SIGHTINGS:
            self._settled.add(id(code))
        return None

    def _depth(self, frame: FrameType) -> Tuple[int, bool]:  # noqa: UP006
        """Frames up to the test code, and whether a module body came first."""
        depth = 1
        project_frames = 1
        caller: FrameType | None = frame.f_back
        classify = self._scope.classify
        while caller is not None:
            kind = classify(caller.f_code)[0]
            if kind is Kind.ROOT:
                return depth, False
            if kind is Kind.MODULE:
                return depth, True
            if kind is Kind.PROJECT:
                project_frames += 1
            if kind is not Kind.INLINE:
                depth += 1
            caller = caller.f_back
        return project_frames, False
