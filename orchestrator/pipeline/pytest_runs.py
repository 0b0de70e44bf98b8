"""Running pytest in an environment through the plugin, and reading what it recorded.

Outcomes and collections always come from the plugin's records, never from
pytest's terminal output.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from orchestrator.environments import Environment
from orchestrator.pipeline.process import CommandResult
from orchestrator.pipeline.warm_probes import pytest_args, warm_run
from pytest_featurebench import records as rec

# A test's outcome: the call phase decides unless setup or teardown went wrong.
_BAD = ("failed", "error")
_TAIL_BYTES = 4096  # the session-end record is short, and the file's last line


@dataclass
class PytestRun:
    result: CommandResult
    records: list[rec.AnyRecord] = field(default_factory=list)
    unreadable: str | None = None  # why the records file could not be read

    @property
    def complete(self) -> bool:
        """The session ended on its own: neither killed nor crashed."""
        return self.session_end() is not None

    def why_incomplete(self) -> str:
        """Why the session did not end on its own, with the tail of its output."""
        result = self.result
        if self.unreadable is not None:
            return f"unreadable records: {self.unreadable}"
        why = "timed out" if result.timed_out else f"crashed (exit {result.returncode})"
        return f"{why}: {result.tail(200).strip()}"

    def session_end(self) -> rec.SessionEnd | None:
        ends = [r for r in self.records if isinstance(r, rec.SessionEnd) and r.worker is None]
        return ends[-1] if ends else None

    def collected(self) -> list[rec.CollectedItem]:
        return [r for r in self.records if isinstance(r, rec.CollectedItem)]

    def collect_errors(self) -> list[rec.CollectError]:
        return [r for r in self.records if isinstance(r, rec.CollectError)]

    def outcomes(self) -> dict[str, str]:
        """nodeid -> passed, failed, skipped, xfailed, xpassed or error."""
        found: dict[str, str] = {}
        for record in self.records:
            if not isinstance(record, rec.PhaseReport):
                continue
            known = found.get(record.nodeid)
            call_decides = record.phase == "call" and known not in _BAD
            worse = record.outcome != "passed" and known in (None, "passed")
            if known is None or call_decides or worse:
                found[record.nodeid] = record.outcome
        return found

    def described(self, nodeid: str) -> str:
        """``nodeid``, and when this run never reported it, why that may be."""
        if nodeid in self.outcomes():
            return nodeid
        return (
            f"{nodeid} (not collected: this run named the tests differently; ids taken from"
            " the order of a set, or of values hashed by address such as None before"
            " Python 3.12, change from process to process)"
        )

    def summaries(self) -> dict[str, str]:
        return {
            r.nodeid: r.summary
            for r in self.records
            if isinstance(r, rec.PhaseReport) and r.summary and r.outcome in _BAD
        }


def run_pytest(
    environment: Environment,
    command: Sequence[str],
    *,
    repo: Path,
    records: Path,
    timeout: float | None,
    log: Path,
    extra: Sequence[str] = (),
    pythonpath: Sequence[str] = (),
    warm: bool = False,
) -> PytestRun:
    """``command`` (``pytest ...``) with the plugin writing to ``records``.

    The plugin writes into a fresh directory of its own, the only one outside
    the work tree the tests may write; its file is moved to ``records`` after.
    Once the session-end record is there the process gets a few seconds
    to exit (a thread blocked on a socket can hold it), then its tree is killed
    and the session's own exit status stands. ``warm``: the session may be forked
    from a warm worker (:mod:`orchestrator.pipeline.warm_probes`), same records.
    """
    records.parent.mkdir(parents=True, exist_ok=True)
    records.unlink(missing_ok=True)
    private = records.with_name(f".{records.name}.out")
    shutil.rmtree(private, ignore_errors=True)
    private.mkdir()
    written = private / "records.jsonl"
    try:
        result = _execute(
            environment, command, extra, repo, timeout, log, pythonpath, written, warm
        )
        if written.exists():
            written.replace(records)
    finally:
        shutil.rmtree(private, ignore_errors=True)
    try:
        found = rec.read_records([records]) if records.exists() else []
    except rec.RecordsError as exc:  # the code under test can write anything there
        return PytestRun(result, unreadable=str(exc))
    run = PytestRun(result, found)
    end = run.session_end()
    if result.stopped_after_grace and end is not None:
        run.result = dataclasses.replace(result, returncode=end.exitstatus)
    return run


def _execute(
    environment: Environment,
    command: Sequence[str],
    extra: Sequence[str],
    repo: Path,
    timeout: float | None,
    log: Path,
    pythonpath: Sequence[str],
    written: Path,
    warm: bool,
) -> CommandResult:
    """The session, forked from a warm worker when asked and possible, else a process."""
    args = pytest_args(command) if warm else None
    if args is not None:
        result = warm_run(
            environment,
            [*args, "-p", "featurebench", "--fb-out", "{records}", *extra],
            repo=repo,
            timeout=timeout,
            log=log,
            pythonpath=pythonpath,
            written=written,
        )
        if result is not None:
            return result
    return environment.run(
        [*command, "-p", "featurebench", "--fb-out", str(written), *extra],
        repo=repo,
        timeout=timeout,
        log=log,
        pythonpath=pythonpath,
        writable=[written.parent],
        finished=lambda: session_ended(written),
    )


def session_ended(records: Path) -> bool:
    """Whether the main process's session-end record is the last line of ``records``."""
    try:
        with records.open("rb") as handle:
            handle.seek(max(0, handle.seek(0, os.SEEK_END) - _TAIL_BYTES))
            last = handle.read().rstrip(b"\n").rpartition(b"\n")[2]
    except OSError:
        return False
    try:
        record = msgspec.json.decode(last, type=rec.AnyRecord)
    except msgspec.DecodeError:
        return False
    return isinstance(record, rec.SessionEnd) and record.worker is None


def seconds(value: int | None) -> float | None:
    """Seed 000's timeouts: -1 (or None) means no limit."""
    return None if value is None or value == -1 else float(value)
