"""Grading one patch of a built case through ``fbench eval``, as a user would."""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from orchestrator.cli import cli
from tests.support.caseutil import instance


def edit(case: Path, path: str, old: str, new: str) -> str:
    """A unified diff that replaces ``old`` with ``new`` in the case repository's ``path``."""
    before = (case / "repo" / path).read_text()
    assert old in before, f"{old!r} not in {path}"
    after = before.replace(old, new)
    lines = difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True), f"a/{path}", f"b/{path}"
    )
    return "".join(lines)


def evaluate(run: Path, case: Path, patch: str, name: str, cache: Path) -> dict[str, Any]:
    """``fbench eval``'s report for ``patch`` as the prediction ``name`` for ``case``."""
    predictions = run.parent / f"{name}.jsonl"
    row = {"instance_id": instance(case)["instance_id"], "model_name_or_path": name}
    predictions.write_text(json.dumps({**row, "model_patch": patch}) + "\n")
    out = run.parent / f"reports-{name}"
    command = ["eval", "--cases", str(run), "--predictions", str(predictions)]
    command += ["--cache-dir", str(cache), "--report", str(out)]
    result = CliRunner().invoke(cli, command, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads((out / name / "report.json").read_text())
    return report
