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
