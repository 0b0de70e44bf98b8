"""``fbench build-cases`` on one spec, and ``fbench eval`` of one patch, as a user runs them."""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from orchestrator.cli import cli
from tests.support.caseutil import instance
from tests.support.gitrepos import commit_files


def build_project(work: Path, name: str, files: dict[str, str]) -> Path:
    """The run directory of ``build-cases`` on a git repository of ``files`` (``small_spec``)."""
    commit_files(work / "project", files, "project", 1_700_000_000)
    return build_cases(work, name, small_spec(work / "project"))


def small_spec(repository: Path) -> dict[str, Any]:
    """A spec for a small project built by a test: pytest alone, short removals, no reruns."""
    return {
        "repository": str(repository),
        "pip_packages": ["pytest"],  # no other plugin: none of the project's addopts plugins
        "min_test_num": 3,
        "max_code_line_lower_bound": 2,
        "max_code_line_upper_bound": 20,
        "stability_runs": 0,
    }


def build_cases(
    work: Path, name: str, spec: dict[str, Any], *args: str, env: dict[str, str] | None = None
) -> Path:
    """The run directory of ``build-cases`` for the spec ``name`` (output and cache in
    ``work``), with more options ``args`` and variables ``env``."""
    (work / "specs.py").write_text(f"{name} = {spec!r}\n")
    command = ["build-cases", "--config-path", str(work / "specs.py")]
    command += ["--output-dir", str(work / "out"), "--cache-dir", str(work / "cache"), *args]
    result = CliRunner(env=env).invoke(cli, command, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return Path(result.stdout.strip().splitlines()[-1])


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
