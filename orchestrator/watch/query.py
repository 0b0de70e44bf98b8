"""Answers from the metrics index of one or more runs: a metric by run, spec and stage."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

from orchestrator.errors import UsageError
from orchestrator.watch.sqlite import DB_NAME

# The latest value of each figure: a resumed run reports its stages again.
_LATEST = (
    "SELECT stage, spec, name, value, MAX(time) FROM events {where}"
    " GROUP BY stage, spec, name ORDER BY MIN(rowid), spec"
)


def query_metrics(runs: Sequence[Path], name: str | None) -> list[dict[str, Any]]:
    """One row per run, stage, spec and metric; ``name`` keeps that metric only."""
    rows = [row for run in runs for row in _run_rows(run, name)]
    if name is not None and not rows:
        known = sorted({row["name"] for run in runs for row in _run_rows(run, None)})
        raise UsageError(f"--query {name}: no such metric in these runs; known: {', '.join(known)}")
    return rows


def _run_rows(run: Path, name: str | None) -> list[dict[str, Any]]:
    path = run / "metadata_outputs" / DB_NAME
    if not path.is_file():
        raise UsageError(
            f"{run}: no metadata_outputs/{DB_NAME}; give a run directory of build-cases"
        )
    where, args = ("WHERE name = ?", (name,)) if name is not None else ("", ())
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        found = db.execute(_LATEST.format(where=where), args).fetchall()
    return [
        {"run": str(run), "stage": stage, "spec": spec, "name": metric, "value": value}
        for stage, spec, metric, value, _ in found
    ]
