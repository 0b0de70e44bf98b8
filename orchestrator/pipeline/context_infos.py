"""``context_infos`` in a run's ``metadata.json``: pipeline -> list of ``{meta_name, ...outputs}``.

Seed 003's shape. Each job or stage records its entry as soon as it ends, and
the file is rewritten atomically every time, so a run killed at any moment
keeps every entry it had finished.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestrator.pipeline.engine import StageStats
from orchestrator.pipeline.storage import read_json, write_json


def record(metadata: Path, pipeline: str, entry: dict[str, Any]) -> None:
    """Put ``entry`` in ``pipeline``'s list, replacing an earlier one of the same meta_name."""
    data: dict[str, Any] = read_json(metadata) if metadata.is_file() else {}
    jobs: list[dict[str, Any]] = data.setdefault("context_infos", {}).setdefault(pipeline, [])
    names = [job["meta_name"] for job in jobs]
    if entry["meta_name"] in names:
        jobs[names.index(entry["meta_name"])] = entry  # a resumed run's stage, run again
    else:
        jobs.append(entry)
    write_json(metadata, data)


def kept(metadata: Path) -> dict[str, Any]:
    """The ``context_infos`` already in ``metadata``, for a writer that replaces the file."""
    if not metadata.is_file():
        return {}
    return {k: v for k, v in read_json(metadata).items() if k == "context_infos"}


def stage_entry(name: str, stats: StageStats) -> dict[str, Any]:
    """What a stage of build-cases leaves in ``context_infos``."""
    return {
        "meta_name": name,
        "items": stats.items,
        "ok": stats.ok,
        "failed": stats.failed,
        "errors": stats.errors,
        "cached": stats.cached,
        "seconds": round(stats.seconds, 3),
    }
