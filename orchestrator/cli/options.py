"""Options several commands share, defined once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click


def run_directory(ctx: click.Context, param: click.Parameter, value: Path) -> Path:
    """``RUN/cases`` names its run too: tab completion stops there often enough."""
    if value.name == "cases" and not (value / "cases").is_dir():
        return value.parent
    return value


Command = TypeVar("Command", bound=Callable[..., Any])


def cases_option_with(default: Path | None) -> Callable[[Command], Command]:
    """``--cases RUN``: required, or with a default run."""
    return click.option(
        "--cases",
        "cases",
        type=click.Path(path_type=Path, file_okay=False),
        required=default is None,
        default=default,
        show_default=default is not None,
        callback=run_directory,
        help="A run directory of build-cases, or its cases/ directory.",
    )


cases_option = cases_option_with(None)


def executor_options(command: Command) -> Command:
    """``--executor`` and ``--ray-address``: where the specs (or eval's cases) run."""
    from orchestrator.pipeline.registry import registry

    command = click.option(
        "--ray-address",
        help="With --executor ray: the head's address, e.g. 10.0.0.5:6379"
        " (default: join the Ray instance on this machine, or start one).",
    )(command)
    return click.option(
        "--executor",
        type=click.Choice(registry("executors").types()),
        default="local",
        show_default=True,
        help="local: this machine, every spec streaming through its stages;"
        " ray: one Ray task per spec across a cluster (pip install 'pytest-featurebench[ray]');"
        " stagewise: one stage across every spec at a time, the order before streaming.",
    )(command)
