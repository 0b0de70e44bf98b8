"""``fbench plugins``: every registered component, with its kind, type and origin."""

from __future__ import annotations

import dataclasses
import json

import click

from orchestrator.pipeline.registry import all_components


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per component.")
def plugins_command(as_json: bool) -> None:
    """List the components featurebench and installed plugins declare as entry points."""
    components = all_components()
    if as_json:
        for component in components:
            click.echo(json.dumps(dataclasses.asdict(component)))
        return
    rows = [("KIND", "TYPE", "ORIGIN", "TARGET")]
    rows += [(c.kind, c.type, c.origin, c.target) for c in components]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        click.echo(
            "  ".join([*(cell.ljust(w) for cell, w in zip(row[:3], widths, strict=True)), row[3]])
        )
