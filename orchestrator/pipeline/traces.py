"""Traces: which tests reach which project functions, as the stages and ``fbench trace`` see them.

- :class:`FileTrace` is what the dynamic stage keeps per test file; a
  :class:`Candidate` is one function top weighs for a fail-to-pass file.
- :func:`load_index` reads the plugin's records for ``fbench trace show``.
  Records may come from several files (one per xdist worker, or one per run);
  a test traced twice keeps the smallest depth per function.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path

import msgspec

from orchestrator.errors import RecordsReadError
from pytest_featurebench import records as rec

Row = tuple[str, str, int, int]  # path, qualname, first line, depth


class TestTrace(msgspec.Struct):
    __test__ = False  # not a pytest test class, despite the name

    outcome: str
    calls: list[Row]


class FileTrace(msgspec.Struct):
    """What the tests of one file reached, and what ran at import time."""

    tests: dict[str, TestTrace]
    import_time: list[Row]


class Candidate(msgspec.Struct, kw_only=True):
    """A project function a fail-to-pass file's tests reach, with the numbers top decides by."""

    key: str
    path: str
    qualname: str
    line: int
    depth: int
    file_tests: int
    suite_tests: int
    specificity: float
    score: float
    chosen: bool = False
    reason: str = ""
    hard: bool = False  # excluded by a rule no selector may override (import time, nesting...)


class TestCalls(msgspec.Struct):
    """One test, its outcome and the project functions it reached."""

    __test__ = False  # not a pytest test class, despite the name

    nodeid: str
    outcome: str = "unknown"
    calls: list[rec.Call] = []


class Reach(msgspec.Struct):
    nodeid: str
    depth: int


class FunctionCallers(msgspec.Struct):
    """One project function and the tests that reach it, shallowest first."""

    path: str
    qualname: str
    line: int
    tests: list[Reach]

    @property
    def key(self) -> str:
        return f"{self.path}::{self.qualname}:{self.line}"


class TraceIndex(msgspec.Struct):
    tests: dict[str, TestCalls]
    import_time: list[rec.Call]
    traced: bool = False  # some session ran with --fb-trace: no calls is then an answer

    def test(self, nodeid: str) -> TestCalls:
        found = self.tests.get(nodeid)
        if found is None:
            close = difflib.get_close_matches(nodeid, list(self.tests), n=1)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise RecordsReadError(f"no traced test {nodeid!r}{hint}")
        return found

    def callers(self, name: str) -> list[FunctionCallers]:
        """Every function matching ``name``, with the tests that reach it."""
        reached: dict[str, dict[str, int]] = {}
        functions: dict[str, rec.Call] = {}
        for test in self.tests.values():
            for call in test.calls:
                if function_matches(call, name):
                    functions.setdefault(call.key, call)
                    reached.setdefault(call.key, {})[test.nodeid] = call.depth
        if not functions:
            raise RecordsReadError(f"no traced test reaches a function named {name!r}")
        return [
            FunctionCallers(
                path=functions[key].path,
                qualname=functions[key].qualname,
                line=functions[key].line,
                tests=[
                    Reach(nodeid, depth)
                    for nodeid, depth in sorted(reached[key].items(), key=lambda i: (i[1], i[0]))
                ],
            )
            for key in sorted(functions)
        ]


def function_matches(call: rec.Call, name: str) -> bool:
    """``name`` is a full key, ``path::qualname``, a qualname or a bare name."""
    return name in (
        call.key,
        f"{call.path}::{call.qualname}",
        call.qualname,
        call.qualname.rsplit(".", 1)[-1],
    )


def load_index(paths: Iterable[str | Path]) -> TraceIndex:
    tests: dict[str, TestCalls] = {}
    import_time: dict[str, rec.Call] = {}
    traced = False
    for record in _read(paths):
        if isinstance(record, rec.SessionStart):
            traced = traced or record.tracer is not None
        elif isinstance(record, rec.CallTrace):
            test = tests.setdefault(record.nodeid, TestCalls(record.nodeid))
            test.calls = _merge_calls(test.calls, record.calls)
        elif isinstance(record, rec.ImportTrace):
            for call in record.calls:
                known = import_time.get(call.key)
                if known is None or call.depth < known.depth:
                    import_time[call.key] = call
        elif isinstance(record, rec.PhaseReport):
            test = tests.setdefault(record.nodeid, TestCalls(record.nodeid))
            test.outcome = _combine_outcome(test.outcome, record)
    return TraceIndex(
        tests=tests,
        import_time=sorted(import_time.values(), key=_call_order),
        traced=traced,
    )


def _read(paths: Iterable[str | Path]) -> list[rec.AnyRecord]:
    try:
        return rec.read_records(paths)
    except FileNotFoundError as exc:
        raise RecordsReadError(f"{exc.filename}: no such records file") from None
    except rec.RecordsError as exc:
        raise RecordsReadError(str(exc)) from None


def _merge_calls(known: list[rec.Call], found: list[rec.Call]) -> list[rec.Call]:
    merged = {call.key: call for call in known}
    for call in found:
        if call.key not in merged or call.depth < merged[call.key].depth:
            merged[call.key] = call
    return sorted(merged.values(), key=_call_order)


def _call_order(call: rec.Call) -> tuple[int, str, int, str]:
    return (call.depth, call.path, call.line, call.qualname)


def _combine_outcome(known: str, report: rec.PhaseReport) -> str:
    """The call phase decides, unless setup or teardown went wrong."""
    if report.phase == "call" or (report.outcome != "passed" and known in ("unknown", "passed")):
        return report.outcome
    return known
