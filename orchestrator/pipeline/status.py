"""The run's status files under ``metadata_outputs/``, each rewritten atomically."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from orchestrator.pipeline.storage import read_json, write_json

_lock = threading.Lock()


def update_files_status(
    metadata: Path,
    spec: str,
    files: dict[str, Any],
    collect_errors: dict[str, str],
    addopts: dict[str, Any] | None = None,
) -> None:
    """Record the scanner's view of a spec's test files in files_status.json, with the
    options of its ``addopts`` dropped, if any (a run without a repair has none)."""
    with _lock:
        status = _read(metadata / "files_status.json")
        entry = status.setdefault(spec, {})
        old = entry.get("files", {})
        for path, info in files.items():
            if "runner" in old.get(path, {}):
                info["runner"] = old[path]["runner"]
        entry["files"] = files
        entry["collect_errors"] = collect_errors
        entry.pop("addopts", None)
        if addopts is not None:
            entry["addopts"] = addopts
        write_json(metadata / "files_status.json", status)


def update_runner_status(metadata: Path, spec: str, results: dict[str, Any]) -> None:
    """Add the runner's verdict for each file of a spec to files_status.json."""
    with _lock:
        status = _read(metadata / "files_status.json")
        files = status.setdefault(spec, {}).setdefault("files", {})
        for path, result in results.items():
            files.setdefault(path, {})["runner"] = result
        write_json(metadata / "files_status.json", status)


def _read(path: Path) -> dict[str, Any]:
    return read_json(path) if path.exists() else {}


def locked_update(path: Path, spec: str, entry: Any) -> None:
    """Replace one spec's entry of a status file, keeping the other specs'."""
    with _lock:
        status = _read(path)
        status[spec] = entry
        write_json(path, status)
