"""Tracer backend for Python before 3.12: the standard library's C profiler.

``_lsprof`` (the engine of cProfile) records every Python call in C, with the
caller of each call when ``subcalls`` is on. That is cheaper than any Python
level ``sys.setprofile`` hook. Built-in functions are left out
(``builtins=False``): they cannot be project code, and a C function does not
push a profiler frame, so a project callback run by ``sorted()`` is recorded
as called by the Python function that called ``sorted()``.

Depths come from the caller edges: a breadth-first walk from the test code.
The edges are summed over the phase, so the depth is the shortest path in
that graph: never more than the real smallest depth, and equal to it in the
common case.

The profiler is per thread. Threads started during a phase get their own
profiler through ``threading.setprofile``, which every new thread calls
before running its target.

While the C profiler runs, ``sys.getprofile()`` returns its object, and code
that saves and restores the hook (pytest-benchmark's ``PauseInstrumentation``
does ``sys.setprofile(sys.getprofile())``) reinstalls that object as a Python
profile function. Ours is callable for that reason: its first event puts the C
hook back, so the suite's next call does not fail with "object is not callable".
"""

from __future__ import annotations

import _lsprof
import sys
import threading
from collections import deque
from types import CodeType
from typing import Any, Callable, Iterable  # noqa: UP035

from pytest_featurebench.calls import Depths, PhaseCalls, keep_smallest
from pytest_featurebench.scope import Kind, ProjectScope


class _Profiler(_lsprof.Profiler):
    """A C profiler that, reinstalled by ``sys.setprofile``, turns itself back on."""

    def __call__(self, frame: Any, event: str, arg: Any) -> None:
        self.enable(subcalls=True, builtins=False)


class ProfileTracer:
    name = "profile"

    def __init__(self, scope: ProjectScope):
        self._scope = scope
        self._main: _Profiler | None = None
        self._threads: list[_Profiler] = []
        self._saved_profile: Any = None
        self._saved_thread_hook: Callable[..., Any] | None = None
        self._enabled = False

    def start(self) -> None:
        self._main = _Profiler()
        self._threads = []
        self.resume()

    def resume(self) -> None:
        if self._main is None:  # not started: nothing to resume
            return
        self._saved_profile = sys.getprofile()
        self._saved_thread_hook = getattr(threading, "_profile_hook", None)
        threading.setprofile(self._start_in_thread)
        self._main.enable(subcalls=True, builtins=False)  # keeps adding to its stats
        self._enabled = True

    def pause(self) -> None:
        if self._main is None or not self._enabled:
            return
        current: Any = sys.getprofile()  # a C profiler's object when one is installed
        self._main.disable()  # clears this thread's hook, whoever set it
        for profiler in self._threads:
            # A profiler still marked enabled clears the hook of whichever
            # thread frees it; disabling it here (where the hook is cleared
            # and restored anyway) makes freeing it harmless.
            profiler.disable()
        self._enabled = False
        self._restore_hooks(self._saved_profile if current is self._main else current)

    def finish(self) -> PhaseCalls:
        self.pause()
        calls: Depths = {}
        imports: Depths = {}
        for profiler in [self._main, *self._threads]:
            if profiler is None:
                continue
            found = self._depths(profiler.getstats())
            keep_smallest(calls, found.calls)
            keep_smallest(imports, found.imports)
        self._main, self._threads = None, []
        return PhaseCalls(calls, imports)

    def close(self) -> None:
        self.pause()
        self._main = None

    def _restore_hooks(self, hook: Any) -> None:
        """Put back the hook found at start, or the one the suite set during the phase."""
        if getattr(threading, "_profile_hook", None) == self._start_in_thread:
            threading.setprofile(self._saved_thread_hook)
        saved = hook
        if isinstance(saved, _lsprof.Profiler):
            # sys.getprofile() hands back a C profiler's object, which
            # sys.setprofile() cannot reinstall; enabling it again does.
            saved.enable()
        else:
            sys.setprofile(saved)

    def _start_in_thread(self, frame: Any, event: str, arg: Any) -> None:
        # Runs once, as the first profile event of a new thread: it replaces
        # itself with a C profiler for that thread.
        profiler = _Profiler()
        self._threads.append(profiler)
        profiler.enable(subcalls=True, builtins=False)

    def _depths(self, entries: Iterable[Any]) -> PhaseCalls:
        return depths_from_graph(CallGraph(self._scope, entries))


class CallGraph:
    """The profiler's entries as caller -> callee edges, expanded only where a walk goes.

    Most entries are pytest's own machinery, which no walk from test code
    reaches; reading their subcalls would be most of the cost of a test.
    """

    def __init__(self, scope: ProjectScope, entries: Iterable[Any]):
        self.kinds: dict[int, tuple[Kind, Any]] = {}
        self._entries: dict[int, Any] = {}
        self._children: dict[int, list[int]] = {}
        for entry in entries:
            code = entry.code
            if type(code) is CodeType:  # built-ins come as strings
                self._entries[id(code)] = entry
                self.kinds[id(code)] = scope.classify(code)

    def children(self, key: int) -> list[int]:
        found = self._children.get(key)
        if found is None:
            calls = self._entries[key].calls or ()
            found = [id(sub.code) for sub in calls if id(sub.code) in self.kinds]
            self._children[key] = found
        return found

    def of_kind(self, kind: Kind) -> list[int]:
        return [key for key, (found, _) in self.kinds.items() if found is kind]


def depths_from_graph(graph: CallGraph) -> PhaseCalls:
    """Shortest depths of project functions from test code, and import-time ones."""
    calls = _walk(graph, graph.of_kind(Kind.ROOT), start_depth=0, stop_at_modules=True)
    imports = _walk(graph, graph.of_kind(Kind.MODULE), start_depth=0, stop_at_modules=False)
    reached = set(calls) | set(imports)
    calls.update(_walk_orphans(graph, reached))
    return PhaseCalls(_by_function(graph, calls), _by_function(graph, imports))


def _walk(
    graph: CallGraph,
    starts: list[int],
    start_depth: int,
    stop_at_modules: bool,
    within: set[int] | None = None,
) -> dict[int, int]:
    """Smallest depths from ``starts`` over caller -> callee edges.

    Entering a lambda or comprehension adds no depth, so edges weigh 0 or 1:
    a breadth-first walk that puts 0-weight steps at the front of its queue.
    """
    depth = {key: start_depth for key in starts}
    queue = deque(starts)
    kinds = graph.kinds
    while queue:
        key = queue.popleft()
        for child in graph.children(key):
            if within is not None and child not in within:
                continue
            kind = kinds[child][0]
            if stop_at_modules and kind is Kind.MODULE:
                continue  # what a module body runs is import time, not the test's
            step = 0 if kind is Kind.INLINE else 1
            if depth.get(child, 1 << 30) > depth[key] + step:
                depth[child] = depth[key] + step
                (queue.appendleft if step == 0 else queue.append)(child)
    return depth


def _walk_orphans(graph: CallGraph, reached: set[int]) -> dict[int, int]:
    """Project code with no test code above it: thread targets, hooks, callbacks.

    Depth counts project frames only, starting at 1 where project code is
    entered from outside.
    """
    project = {key for key in graph.of_kind(Kind.PROJECT) if key not in reached}
    called_by_project = {
        child for key in project for child in graph.children(key) if child in project
    }
    entries = [key for key in project if key not in called_by_project] or sorted(project)
    return _walk(graph, entries, start_depth=1, stop_at_modules=False, within=project)


def _by_function(graph: CallGraph, depths: dict[int, int]) -> Depths:
    found: Depths = {}
    for key, depth in depths.items():
        kind, function = graph.kinds[key]
        if kind is Kind.PROJECT and depth > 0:
            keep_smallest(found, {function: depth})
    return found
