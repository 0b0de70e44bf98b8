"""Options several commands share, defined once."""

from __future__ import annotations

from pathlib import Path

import click

cases_option = click.option(
    "--cases",
    "cases",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="A run directory of build-cases (it holds cases/).",
)
