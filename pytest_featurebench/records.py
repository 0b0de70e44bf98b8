"""The records the plugin writes, one JSON object per line.

This is the only module shared by the plugin and the orchestrator. Results
cross process and container boundaries as these records, never as terminal
text. Every record carries a ``type`` tag.

FORMAT_VERSION history:

1. First version: session start and end, collected items, collection errors,
   test phases, per-test traces and import-time traces.

New fields get defaults so that older readers keep working; a change that
breaks readers bumps FORMAT_VERSION.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import List, Optional, Union  # noqa: UP035 - the plugin runs on Python 3.9+

import msgspec

FORMAT_VERSION = 1

# Outcomes of a test phase, in pytest's own words plus the xfail pair.
OUTCOMES = ("passed", "failed", "skipped", "xfailed", "xpassed", "error")


class Record(msgspec.Struct, tag_field="type", kw_only=True, omit_defaults=True):
    """Base of every record; ``worker`` is the xdist worker id, if any."""

    worker: Optional[str] = None  # noqa: UP045


class SessionStart(Record, tag="session_start"):
    format_version: int
    python: str
    pytest: str
    rootdir: str
    tracer: Optional[str] = None  # noqa: UP045
    trace_roots: list[str] = []


class CollectedItem(Record, tag="item"):
    nodeid: str
    file: str
    line: Optional[int] = None  # noqa: UP045
    markers: list[str] = []
    params: dict[str, str] = {}


class CollectError(Record, tag="collect_error"):
    nodeid: str
    file: str
    message: str


class PhaseReport(Record, tag="phase"):
    nodeid: str
    phase: str
    outcome: str
    duration: float
    summary: Optional[str] = None  # noqa: UP045


class Call(msgspec.Struct, array_like=True, frozen=True):
    """One project function reached, as ``[path, qualname, line, depth]``.

    ``path`` is relative to rootdir (``/`` separated); ``line`` is the code
    object's first line, which CPython sets to the first decorator when there
    is one; ``depth`` is the smallest number of Python frames between the test
    code and the function seen by the tracer (1 = called by the test itself),
    not counting lambdas, comprehensions and generator expressions.
    """

    path: str
    qualname: str
    line: int
    depth: int

    @property
    def key(self) -> str:
        """A stable identity: two same-named functions never share it."""
        return f"{self.path}::{self.qualname}:{self.line}"


class CallTrace(Record, tag="trace"):
    """The project functions one test ran during its setup and call phases."""

    nodeid: str
    calls: list[Call] = []


class ImportTrace(Record, tag="import_trace"):
    """Project functions run while collecting or importing modules.

    ``nodeid`` is empty for collection, or names the test during which a
    module was first imported. The pipeline must never remove these functions.
    """

    nodeid: str = ""
    calls: list[Call] = []


class SessionEnd(Record, tag="session_end"):
    exitstatus: int
    counts: dict[str, int] = {}
    duration: float = 0.0
    # The process's CPU seconds at session start, after collection and at the end.
    cpu: list[float] = []


AnyRecord = Union[
    SessionStart, CollectedItem, CollectError, PhaseReport, CallTrace, ImportTrace, SessionEnd
]

_decoder = msgspec.json.Decoder(AnyRecord)
_encoder = msgspec.json.Encoder()


class RecordsError(ValueError):
    """A records file that cannot be read; the message names the file and line."""


def encode(record: Record) -> bytes:
    """One record as a line of JSON, newline included."""
    return _encoder.encode(record) + b"\n"


def iter_records(path: Union[str, Path]) -> Iterator[AnyRecord]:  # noqa: UP007
    """Yield the records of one file.

    A last line without its newline is the mark of a run killed mid-write and
    is skipped; any other unreadable line is an error naming file and line.
    """
    data = Path(path).read_bytes()
    lines = data.split(b"\n")
    complete = lines if data.endswith(b"\n") else lines[:-1]
    for number, line in enumerate(complete, 1):
        if not line.strip():
            continue
        try:
            record = _decoder.decode(line)
        except msgspec.DecodeError as exc:
            raise RecordsError(f"{path}:{number}: not a featurebench record ({exc})") from None
        if isinstance(record, SessionStart) and record.format_version > FORMAT_VERSION:
            raise RecordsError(
                f"{path}:{number}: records format {record.format_version} is newer than"
                f" this reader's {FORMAT_VERSION}; upgrade featurebench"
            )
        yield record


def read_records(paths: Iterable[Union[str, Path]]) -> List[AnyRecord]:  # noqa: UP006, UP007
    """All records of several files (for instance one per xdist worker), in order."""
    return [record for path in paths for record in iter_records(path)]
