"""``fbench init``: write a commented spec for a repository, its commands guessed."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("init")
@click.argument("path", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "-o",
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("specs.toml"),
    show_default=True,
    help="The spec file to write.",
)
@click.option("--force", is_flag=True, help="Replace the spec file if it exists.")
def init_command(path: Path, out: Path, force: bool) -> None:
    """Write a spec for the repository at PATH: install and test commands from its files."""
    from orchestrator.pipeline.spec_init import write_spec

    click.echo(write_spec(path, out, force))
