"""What a run holds, for ``fbench cases list`` and ``fbench cases show``."""

from __future__ import annotations

import difflib
import json
from typing import Any

from orchestrator.errors import UsageError
from orchestrator.grading.eval_inputs import Case

_COLUMNS = ("instance", "level", "F2P", "P2P", "lines", "top objects")


def case_rows(cases: dict[str, Case]) -> list[dict[str, Any]]:
    """One summary per case, in id order: what ``cases list`` prints."""
    return [
        {
            "instance_id": iid,
            "level": case.instance["level"],
            "f2p": len(case.instance["FAIL_TO_PASS"]),
            "p2p": len(case.instance["PASS_TO_PASS"]),
            "lines": case.instance.get("lines", 0),
            "top_objects": len(case.instance["top_objects"]),
            "path": str(case.path),
        }
        for iid, case in sorted(cases.items())
    ]


def case_table(rows: list[dict[str, Any]]) -> str:
    """The summaries as an aligned text table."""
    keys = ("instance_id", "level", "f2p", "p2p", "lines", "top_objects")
    cells = [list(_COLUMNS), *([str(row[key]) for key in keys] for row in rows)]
    widths = [max(len(line[i]) for line in cells) for i in range(len(_COLUMNS))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in cells
    ]
    return "\n".join(lines) + f"\n{len(rows)} cases\n"


def find_case(cases: dict[str, Case], wanted: str) -> Case:
    """The case named by its id, or by a part of it that names one case only."""
    if wanted in cases:
        return cases[wanted]
    matches = [iid for iid in cases if wanted in iid]
    if len(matches) == 1:
        return cases[matches[0]]
    if matches:
        shown = ", ".join(sorted(matches)[:3])
        raise UsageError(f"{wanted}: names {len(matches)} cases ({shown}, ...); give more of it")
    close = difflib.get_close_matches(wanted, list(cases), n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]}?" if close else "; see fbench cases list"
    raise UsageError(f"{wanted}: no such case in the run{hint}")


def case_details(case: Case) -> str:
    """A case's facts, tests and files, as ``cases show`` prints them."""
    info = case.instance
    lines = [
        f"{info['instance_id']}  (level {info['level']})",
        f"  directory     {case.path}",
        f"  repository    {info['repo']} at {info['base_commit']}",
        f"  environment   {info['environment']['key']} ({info['environment']['backend']})",
        f"  test file     {info['test_file']}",
        f"  removed       {info.get('lines', 0)} lines from {len(info.get('files', []))} files",
        "  top objects",
        *(f"    {name}" for name in info["top_objects"]),
        f"  FAIL_TO_PASS  {len(info['FAIL_TO_PASS'])} tests",
        *(f"    {test}" for test in info["FAIL_TO_PASS"]),
        f"  PASS_TO_PASS  {len(info['PASS_TO_PASS'])} tests in {len(info['p2p_files'])} files",
        *(f"    {path}" for path in info["p2p_files"]),
        "  files",
        *(f"    {path.name}" for path in sorted(case.path.iterdir())),
    ]
    return "\n".join(lines) + "\n"


def case_json(case: Case) -> str:
    return json.dumps({"path": str(case.path), **case.instance}, indent=2) + "\n"
