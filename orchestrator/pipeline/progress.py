"""Progress of long stages: a live bar on a terminal, a line now and then otherwise."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from rich.progress import TaskID

ProgressCallback = Callable[[str, int, int], None]
_QUIET_SECONDS = 10.0  # between plain progress lines when stderr is not a terminal


@contextmanager
def stage_progress() -> Iterator[ProgressCallback]:
    if sys.stderr.isatty():
        with _live_bars() as callback:
            yield callback
    else:
        yield _plain_lines()


@contextmanager
def _live_bars() -> Iterator[ProgressCallback]:
    # rich is imported here, not at the top: ``fbench --help`` must start fast.
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = (
        TextColumn("{task.description:<8}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=False) as bars:
        tasks: dict[str, TaskID] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bars.add_task(stage, total=total)
            bars.update(tasks[stage], completed=done, total=total)

        yield update


def _plain_lines() -> ProgressCallback:
    last: dict[str, float] = {}

    def update(stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if done == total or now - last.get(stage, 0.0) >= _QUIET_SECONDS:
            last[stage] = now
            click.echo(f"{stage}: {done}/{total}", err=True)

    return update
