"""``fbench export``: a run's cases as SWE-bench JSONL or a Hugging Face dataset."""

from __future__ import annotations

from pathlib import Path

import click

from orchestrator.cli.options import cases_option
from orchestrator.grading.exports import export_cases
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
    help="The JSONL file, or the dataset directory for hf-dataset.",
)
def export_command(cases: Path, format_: str, out: Path) -> None:
    """Write every case as a row: SWE-bench's fields first, then featurebench's."""
    rows = export_cases(cases, format_, out)
    click.echo(f"{rows} cases -> {out}")
