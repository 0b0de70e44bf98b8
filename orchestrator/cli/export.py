"""``fbench export``: a run's cases as SWE-bench rows, a dataset, or a task repository."""

from __future__ import annotations

from pathlib import Path

import click

from orchestrator.cli.options import cases_option
from orchestrator.grading.exports import P2P_MODES, export_cases
from orchestrator.pipeline.registry import registry


@click.command("export")
@cases_option
@click.option(
    "--format", "format_", type=click.Choice(registry("exporters").types()), required=True
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    required=True,
    help="The JSONL file, or the directory of hf-dataset, parquet or swebench-task-repo.",
)
@click.option(
    "--p2p",
    type=click.Choice(P2P_MODES),
    default="same-file",
    show_default=True,
    help="PASS_TO_PASS: the tests of test_patch's files (SWE-bench <= 4 runs only those;"
    " the others go to PASS_TO_PASS_CROSS_FILE), or all of them.",
)
def export_command(cases: Path, format_: str, out: Path, p2p: str) -> None:
    """Write every case as a row: SWE-bench's fields first, then featurebench's."""
    rows = export_cases(cases, format_, out, p2p)
    click.echo(f"{rows} cases -> {out}")
