"""Depth of a project function's call, read from the frame stack when it starts.

Shared by the backends that are told about a call as it starts, with its frame
(``sys.monitoring`` and the rewriting import hook). Frames are counted up to
the nearest test code, leaving out lambdas and comprehensions. A module body
met first means the call happens at import time. With no test code above (a
thread's target, a hook), depth counts project frames only.

Within a unit the depth may still shrink: a test may reach a helper through
another function first and call it directly later. So a function's first
``SIGHTINGS`` calls are read, or until one is at depth 1; after that the
backend stops asking (the function is *settled* for the unit).
"""

from __future__ import annotations

from types import FrameType
from typing import Tuple  # noqa: UP035 - Python 3.9+ syntax

from pytest_featurebench.calls import Depths, PhaseCalls
from pytest_featurebench.scope import FunctionId, Kind, ProjectScope

SIGHTINGS = 8


class Sightings:
    """The project functions seen starting in one unit, with their smallest depths."""

    def __init__(self, scope: ProjectScope):
        self._classify = scope.classify
        self.reset()

    def reset(self) -> None:
        self._calls: Depths = {}
        self._imports: Depths = {}
        self._seen: dict[FunctionId, int] = {}

    def result(self) -> PhaseCalls:
        return PhaseCalls(self._calls, self._imports)

    def see(self, function: FunctionId, frame: FrameType) -> bool:
        """Record a call of ``function`` running in ``frame``; True once it is settled."""
        depth, at_import = self._depth(frame)
        into = self._imports if at_import else self._calls
        known = into.get(function)
        if known is None or depth < known:
            into[function] = depth
        if at_import:
            return False  # keep watching: the tests may call it later
        seen = self._seen.get(function, 0) + 1
        self._seen[function] = seen
        return depth == 1 or seen >= SIGHTINGS

    def _depth(self, frame: FrameType) -> Tuple[int, bool]:  # noqa: UP006
        """Frames up to the test code, and whether a module body came first."""
        depth = 1
        project_frames = 1
        caller: FrameType | None = frame.f_back
        classify = self._classify
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


class SightingTracer:
    """What the backends told of each call as it starts share: a recording flag and sightings.

    Between units a flag stops recording, so that nothing the backend set up
    (events, rewritten code) has to change.
    """

    def __init__(self, scope: ProjectScope):
        self._sightings = Sightings(scope)
        self._recording = False

    def pause(self) -> None:
        self._recording = False

    def finish(self) -> PhaseCalls:
        self.pause()
        return self._sightings.result()
