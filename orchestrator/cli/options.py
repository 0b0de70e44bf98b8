"""Options several commands share, defined once."""

from __future__ import annotations

from pathlib import Path

import click


def run_directory(ctx: click.Context, param: click.Parameter, value: Path) -> Path:
    """``RUN/cases`` names its run too: tab completion stops there often enough."""
    if value.name == "cases" and not (value / "cases").is_dir():
        return value.parent
    return value


cases_option = click.option(
    "--cases",
    "cases",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    callback=run_directory,
    help="A run directory of build-cases, or its cases/ directory.",
)
