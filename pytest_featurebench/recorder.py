"""The object that writes records; registered only when ``--fb-out`` is given.

Under pytest-xdist each worker writes its own part file next to the output
(``PATH.gw0``, ...). The controller writes the session records and, once the
workers are done, appends their parts to the output, so the records of every
worker reach one file. A part left behind by a killed run is still a valid
records file.
"""

from __future__ import annotations

import glob
import os
import platform
from time import perf_counter as _perf_counter  # bound at import: suites mock time
from time import process_time as _process_time
from typing import IO, Any, Dict, Generator, List  # noqa: UP035 - Python 3.9+

import pytest

from pytest_featurebench import records as rec
from pytest_featurebench.calls import Depths, keep_smallest
from pytest_featurebench.scope import FunctionId
from pytest_featurebench.tracing import Tracer

_SUMMARY_CHARS = 500


class Recorder:
    def __init__(self, config: pytest.Config, out_path: str, tracer: Tracer | None):
        self.config = config
        self.tracer = tracer
        self.worker: str | None = getattr(config, "workerinput", {}).get("workerid")
        self.out_path = f"{out_path}.{self.worker}" if self.worker else out_path
        self.main_path = out_path
        self.controller = False  # set at session start when pytest-xdist distributes
        self._file: IO[bytes] = open(self.out_path, "wb")  # noqa: SIM115 - closed at unconfigure
        self._counts: Dict[str, int] = {}  # noqa: UP006
        self._written = 0  # records in the output, the workers' parts included
        self._traced_nodeid: str | None = None  # the test whose unit is open
        self._started = _perf_counter()
        self._cpu: List[float] = []  # noqa: UP006 - CPU seconds at start, collected, end

    def write(self, record: rec.Record) -> None:
        record.worker = self.worker
        self._file.write(rec.encode(record))
        self._file.flush()
        self._written += 1

    def close(self) -> None:
        if self.tracer is not None:
            self.tracer.close()
            self.tracer = None
        if not self._file.closed:
            self._file.close()

    # -- session ------------------------------------------------------------

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self._cpu = [round(_process_time(), 4)]  # interpreter, imports, plugins, config
        self.controller = self.config.pluginmanager.getplugin("dsession") is not None
        if self.controller:
            for stale in glob.glob(glob.escape(self.main_path) + ".gw*"):
                os.unlink(stale)
        self.write(
            rec.SessionStart(
                format_version=rec.FORMAT_VERSION,
                python=platform.python_version(),
                pytest=pytest.__version__,
                rootdir=str(self.config.rootpath),
                tracer=self.tracer.name if self.tracer else None,
                trace_roots=list(self.config.getoption("fb_trace_root") or []),
            )
        )

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.controller:
            self._append_worker_parts()
        duration = round(_perf_counter() - self._started, 6)
        cpu = [*self._cpu, round(_process_time(), 4)]
        self.write(
            rec.SessionEnd(
                exitstatus=int(exitstatus), counts=self._counts, duration=duration, cpu=cpu
            )
        )
        self._file.close()

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.worker is None:  # a worker's terminal output is not shown
            terminalreporter.write_line(
                f"featurebench: {self._written} records written to {self.out_path}"
            )

    def _append_worker_parts(self) -> None:
        for part in sorted(glob.glob(glob.escape(self.main_path) + ".gw*")):
            with open(part, "rb") as source:
                data = source.read()
            if data and not data.endswith(b"\n"):
                data = data[: data.rfind(b"\n") + 1]  # a worker killed mid-line
            self._file.write(data)
            self._file.flush()
            self._written += data.count(b"\n")
            os.unlink(part)

    # -- collection ---------------------------------------------------------

    @pytest.hookimpl(hookwrapper=True)
    def pytest_collection(self, session: pytest.Session) -> Generator[None, Any, None]:
        # Old-style wrappers throughout: environments under test may pin a
        # pytest older than the new-style ``wrapper=True``.
        tracer = self._active_tracer()
        if tracer is None:
            yield
            return
        tracer.start()
        try:
            yield
        finally:
            found = tracer.finish()
            imports = dict(found.imports)
            keep_smallest(imports, found.calls)  # whatever collection runs is import time
            self._write_imports("", imports)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed and not self.controller:
            path = report.nodeid.split("::")[0]
            self.write(
                rec.CollectError(nodeid=report.nodeid, file=path, message=_collect_message(report))
            )

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if len(self._cpu) == 1:
            self._cpu.append(round(_process_time(), 4))
        for item in session.items:
            self.write(_item_record(item))

    # -- tests ----------------------------------------------------------------

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Generator[None, Any, None]:
        tracer = self._active_tracer()
        if tracer is None:
            yield
            return
        tracer.start()
        self._traced_nodeid = item.nodeid
        try:
            yield
        finally:
            tracer.pause()

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, Any, None]:
        tracer = self._active_tracer()
        if tracer is None or self._traced_nodeid != item.nodeid:
            yield
            return
        tracer.resume()
        try:
            yield
        finally:
            tracer.pause()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        outcome = phase_outcome(report)
        if report.when == "call" or outcome != "passed":
            self._counts[outcome] = self._counts.get(outcome, 0) + 1
        if self.controller:
            return  # the worker that ran the test wrote its records
        self.write(
            rec.PhaseReport(
                nodeid=report.nodeid,
                phase=report.when or "",
                outcome=outcome,
                duration=round(report.duration, 6),
                summary=_phase_summary(report, outcome),
            )
        )

    def pytest_runtest_logfinish(self, nodeid: str) -> None:
        tracer = self._active_tracer()
        if tracer is None or self._traced_nodeid != nodeid:
            return
        self._traced_nodeid = None
        found = tracer.finish()
        self.write(rec.CallTrace(nodeid=nodeid, calls=_calls(found.calls)))
        self._write_imports(nodeid, found.imports)

    def _write_imports(self, nodeid: str, found: Depths) -> None:
        if found:
            self.write(rec.ImportTrace(nodeid=nodeid, calls=_calls(found)))

    def _active_tracer(self) -> Tracer | None:
        """The tracer, except in an xdist controller, whose workers do the tracing."""
        return None if self.controller else self.tracer


def phase_outcome(report: pytest.TestReport) -> str:
    """passed, failed, skipped, xfailed, xpassed or error (a failed setup or teardown)."""
    if hasattr(report, "wasxfail"):
        if report.skipped:
            return "xfailed"
        if report.passed:
            return "xpassed"
    if report.failed and report.when != "call":
        return "error"
    return report.outcome


def _phase_summary(report: pytest.TestReport, outcome: str) -> str | None:
    if outcome in ("xfailed", "xpassed"):
        return _shorten(str(getattr(report, "wasxfail", "")))
    if outcome == "skipped" and isinstance(report.longrepr, tuple):
        return _shorten(str(report.longrepr[2]).removeprefix("Skipped: "))
    if report.failed:
        crash = getattr(report.longrepr, "reprcrash", None)
        message = getattr(crash, "message", None) or _last_line(report.longreprtext)
        return _shorten(message.strip().split("\n", 1)[0])
    return None


def _collect_message(report: pytest.CollectReport) -> str:
    text = report.longreprtext
    errors = [line[1:].strip() for line in text.splitlines() if line.startswith("E ")]
    return _shorten(errors[-1] if errors else _last_line(text))


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def _shorten(text: str) -> str:
    return text if len(text) <= _SUMMARY_CHARS else text[: _SUMMARY_CHARS - 3] + "..."


def _item_record(item: pytest.Item) -> rec.CollectedItem:
    path, line, _ = item.location
    callspec = getattr(item, "callspec", None)
    params = (
        {name: _safe_repr(value) for name, value in callspec.params.items()} if callspec else {}
    )
    return rec.CollectedItem(
        nodeid=item.nodeid,
        file=path.replace(os.sep, "/"),
        line=None if line is None else line + 1,
        markers=sorted({marker.name for marker in item.iter_markers()}),
        params=params,
    )


def _safe_repr(value: object) -> str:
    try:
        return _shorten(repr(value))
    except Exception as exc:  # a parameter's __repr__ is the project's code, and may be broken
        return f"<unrepresentable {type(value).__name__}: {type(exc).__name__}>"


def _calls(found: Dict[FunctionId, int]) -> List[rec.Call]:  # noqa: UP006
    return [
        rec.Call(path, qualname, line, depth)
        for (path, qualname, line), depth in sorted(found.items())
    ]
