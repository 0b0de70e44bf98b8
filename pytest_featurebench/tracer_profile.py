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
"""

from __future__ import annotations

import _lsprof
import sys
import threading
from collections import deque
from types import CodeType
from typing import Any, Callable, Dict, Iterable, List, Set  # noqa: UP035

from pytest_featurebench.scope import Kind, ProjectScope
from pytest_featurebench.tracing import Depths, PhaseCalls, keep_smallest

Graph = Dict[int, List[CodeType]]  # noqa: UP006 - id(caller) -> callees


class ProfileTracer:
    name = "profile"

    def __init__(self, scope: ProjectScope):
        self._scope = scope
        self._main: _lsprof.Profiler | None = None
        self._threads: List[_lsprof.Profiler] = []  # noqa: UP006
        self._saved_profile: Any = None
        self._saved_thread_hook: Callable[..., Any] | None = None
        self._enabled = False

    def start(self) -> None:
        self._main = _lsprof.Profiler()
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
        profiler = _lsprof.Profiler()
        self._threads.append(profiler)
        profiler.enable(subcalls=True, builtins=False)

    def _depths(self, entries: Iterable[Any]) -> PhaseCalls:
        graph: Graph = {}
        codes: Dict[int, CodeType] = {}  # noqa: UP006
        for entry in entries:
            if isinstance(entry.code, CodeType):
                codes[id(entry.code)] = entry.code
                callees = [sub.code for sub in entry.calls or () if isinstance(sub.code, CodeType)]
                graph[id(entry.code)] = callees
        return depths_from_graph(self._scope, codes, graph)


def depths_from_graph(scope: ProjectScope, codes: Dict[int, CodeType], graph: Graph) -> PhaseCalls:  # noqa: UP006
    """Shortest depths of project functions from test code, and import-time ones."""
    kinds = {key: scope.classify(code) for key, code in codes.items()}
    roots = [key for key, (kind, _) in kinds.items() if kind is Kind.ROOT]
    modules = [key for key, (kind, _) in kinds.items() if kind is Kind.MODULE]
    calls = _walk(graph, kinds, roots, start_depth=0, stop_at_modules=True)
    imports = _walk(graph, kinds, modules, start_depth=0, stop_at_modules=False)
    reached = set(calls) | set(imports)
    calls.update(_walk_orphans(graph, kinds, reached))
    return PhaseCalls(_by_function(kinds, calls), _by_function(kinds, imports))


def _walk(
    graph: Graph, kinds: dict[int, Any], starts: list[int], start_depth: int, stop_at_modules: bool
) -> Dict[int, int]:  # noqa: UP006
    """Breadth-first depths from ``starts`` over caller -> callee edges."""
    depth = {key: start_depth for key in starts}
    queue = deque(starts)
    while queue:
        key = queue.popleft()
        for callee in graph.get(key, ()):
            child = id(callee)
            if child in depth or child not in kinds:
                continue
            if stop_at_modules and kinds[child][0] is Kind.MODULE:
                continue  # what a module body runs is import time, not the test's
            depth[child] = depth[key] + 1
            queue.append(child)
    return depth


def _walk_orphans(graph: Graph, kinds: Dict[int, Any], reached: Set[int]) -> Dict[int, int]:  # noqa: UP006
    """Project code with no test code above it: thread targets, hooks, callbacks.

    Depth counts project frames only, starting at 1 where project code is
    entered from outside.
    """
    project = {k for k, (kind, _) in kinds.items() if kind is Kind.PROJECT and k not in reached}
    called_by_project = {
        id(callee) for key in project for callee in graph.get(key, ()) if id(callee) in project
    }
    entries = [key for key in project if key not in called_by_project] or sorted(project)
    project_graph = {key: [c for c in graph.get(key, ()) if id(c) in project] for key in project}
    found = _walk(project_graph, kinds, entries, start_depth=1, stop_at_modules=False)
    return {key: depth for key, depth in found.items() if key in project}


def _by_function(kinds: Dict[int, Any], depths: Dict[int, int]) -> Depths:  # noqa: UP006
    found: Depths = {}
    for key, depth in depths.items():
        kind, function = kinds[key]
        if kind is Kind.PROJECT and depth > 0:
            keep_smallest(found, {function: depth})
    return found
