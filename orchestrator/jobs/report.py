"""``report.md`` of a sandbox run: each job, its time, and its figures, in list order."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from orchestrator.pipeline.storage import write_atomic

_SHOWN = 160  # characters of one output's value; the whole is in metadata.json


def write_report(root: Path, infos: dict[str, list[dict[str, Any]]]) -> None:
    lines = [f"# fbench sandbox run {root.name}", ""]
    lines += ["Every output in full: `metadata_outputs/metadata.json` (`context_infos`).", ""]
    for pipeline, entries in infos.items():
        lines += [f"## {pipeline}", "", "| job | hook | seconds | outputs |", "|---|---|---|---|"]
        lines += [_row(entry) for entry in entries]
        lines.append("")
    write_atomic(root / "report.md", "\n".join(lines).encode())


def _row(entry: dict[str, Any]) -> str:
    outputs = {k: v for k, v in entry.items() if k not in ("meta_name", "type", "seconds")}
    shown = "<br>".join(f"`{key}`: {_short(value)}" for key, value in outputs.items())
    return f"| {entry['meta_name']} | {entry['type']} | {entry['seconds']:g} | {shown} |"


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True).replace("|", "\\|")
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."
