"""``fbench metrics``: a metric by run, spec and stage, across runs."""

from __future__ import annotations

import json
from pathlib import Path

import click

from orchestrator.watch.query import query_metrics


@click.command("metrics")
@click.argument("runs", nargs=-1, required=True, type=click.Path(path_type=Path, file_okay=False))
@click.option("--query", "name", help="One metric, e.g. seconds, pass_rate or peak_child_rss_mb.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per row.")
def metrics_command(runs: tuple[Path, ...], name: str | None, as_json: bool) -> None:
    """What the watcher recorded in each RUN's metadata_outputs/metrics.sqlite."""
    for row in query_metrics(runs, name):
        if as_json:
            click.echo(json.dumps(row))
        else:
            where = f"{row['run']}  {row['stage']:<8} {row['spec']:<20}"
            click.echo(f"{where} {row['name']:<22} {row['value']:g}")
