"""The ``sqlite`` sink: ``metadata_outputs/metrics.sqlite``, the index ``fbench metrics`` reads."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

import msgspec

from orchestrator.watch import Event

DB_NAME = "metrics.sqlite"
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS events (run TEXT, pipeline TEXT, stage TEXT, spec TEXT,"
    " name TEXT, value REAL, time REAL)"
)


class SqliteSink:
    def __init__(self, metadata: Path) -> None:
        metadata.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(metadata / DB_NAME, check_same_thread=False)
        self._db.execute(_SCHEMA)
        self._db.execute("CREATE INDEX IF NOT EXISTS by_name ON events (name, stage, spec)")

    def write(self, events: Sequence[Event]) -> None:
        rows = [msgspec.structs.astuple(event) for event in events]
        with self._db:  # one transaction, committed before returning
            self._db.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)", rows)

    def close(self) -> None:
        self._db.close()
