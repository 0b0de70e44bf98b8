"""``fbench plugin-wheel``: the pytest plugin alone, a wheel needing only pytest and msgspec."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("plugin-wheel")
@click.option(
    "-o",
    "--out",
    "out",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Directory to write the wheel into.",
)
def plugin_wheel_command(out: Path) -> None:
    """Write the plugin-only wheel (for tracing without the orchestrator); print its path."""
    from orchestrator.environments.plugin_wheel import build_plugin_wheel

    click.echo(build_plugin_wheel(out.resolve()))
