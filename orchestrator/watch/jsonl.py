"""The ``jsonl`` sink: ``metadata_outputs/metrics.jsonl``, one event a line, flushed as written."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import msgspec

from orchestrator.watch import Event


class JsonlSink:
    def __init__(self, metadata: Path) -> None:
        metadata.mkdir(parents=True, exist_ok=True)
        self.path = metadata / "metrics.jsonl"
        self._file = self.path.open("ab")  # appends: a resumed run adds to its log

    def write(self, events: Sequence[Event]) -> None:
        for event in events:
            self._file.write(msgspec.json.encode(event) + b"\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()
