"""``metadata_outputs/data_status.json``: every fail-to-pass candidate's fate.

Per spec: the counts of the funnel (candidate files, their units, units that
reached the data stage, files and units with valid cases, cases written) and
per unit (keyed ``file`` or ``file::unit``; a file that fell out before top
is one entry) either the cases written or the step that dropped it (classify,
mask, collect, f2p, p2p, gold, leak) and why; units past ``max_f2p_num`` are
``capped``, not candidates.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestrator.pipeline.engine import Outcome
from orchestrator.pipeline.status import locked_update

_DROP_KEYS = ("removed", "emptied", "protected", "budget", "attempts")


def write_data_status(
    metadata: Path,
    spec: str,
    candidates: int,
    outcomes: dict[str, Outcome],
    written: dict[str, list[str]],
    dropped: dict[str, Any] | None = None,
    units: dict[str, Any] | None = None,
) -> None:
    files: dict[str, Any] = {}
    for path, outcome in sorted(outcomes.items()):
        data = outcome.data or {}
        if outcome.status == "ok":
            files[path] = {
                "status": "valid" if written.get(path) else "not written",
                "cases": written.get(path, []),
                "notes": data.get("notes", []),
                "seconds": data.get("seconds"),
                **({"attempts": data["attempts"]} if "attempts" in data else {}),
            }
        else:
            files[path] = {
                "status": "dropped",
                "stage": data.get("stage", "data"),
                "reason": outcome.reason,
                **{k: data[k] for k in _DROP_KEYS if k in data},
            }
    for path, why in (dropped or {}).items():
        files.setdefault(path, why)
    for key, row in files.items():
        unit = (units or {}).get(key, {})
        row.setdefault("file", unit.get("file", key.split("::")[0]))
        row.setdefault("unit", unit.get("unit", key.split("::")[1] if "::" in key else "file"))
    valid = [key for key, names in written.items() if names]
    entry = {
        "f2p_candidates": candidates,
        "f2p_units": sum(1 for row in files.values() if row["status"] != "capped"),
        "data_items": len(outcomes),
        "valid_files": len({files[key]["file"] for key in valid}),
        "valid_units": len(valid),
        "cases": sum(len(names) for names in written.values()),
        "files": files,
    }
    locked_update(metadata / "data_status.json", spec, entry)


def note_dropped(state_values: dict[str, Any], stage: str, outcomes: dict[str, Outcome]) -> None:
    """Remember why fail-to-pass candidates (files or units) fell out before the data stage."""
    f2p = {*state_values.get("f2p", []), *state_values.get("top", {})}
    dropped = state_values.setdefault("dropped", {})
    for path, outcome in outcomes.items():
        if path in f2p and outcome.status != "ok":
            dropped[path] = {"status": "dropped", "stage": stage, "reason": outcome.reason}
