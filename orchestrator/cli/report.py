"""``fbench report``: rebuild a run's ``pipeline_report.md`` and its plots."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("report")
@click.argument("run_dir", type=click.Path(path_type=Path, file_okay=False, exists=True))
def report_command(run_dir: Path) -> None:
    """Stage timings, the yield funnel with drop reasons, per-spec tables and plots."""
    from orchestrator.report.pipeline_report import write_pipeline_report  # matplotlib

    click.echo(write_pipeline_report(run_dir))
