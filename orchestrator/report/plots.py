"""The PNG plots of the pipeline report, drawn with matplotlib's Agg renderer.

Figures are made with ``matplotlib.figure.Figure`` rather than pyplot: no
global figure state and no GUI backend, so a report can be drawn from any
thread of a run.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from orchestrator.pipeline.storage import write_atomic


def write_plots(folder: Path, data: dict[str, Any]) -> dict[str, str]:
    """Draw the report's plots into ``folder``; title -> path relative to the run."""
    cases = [case for spec in data["specs"].values() for case in spec["cases"].values()]
    stages = data["stages"]
    plots = {
        "lines removed per case": (
            "lines_removed.png",
            _histogram([c["lines"] for c in cases], "lines removed", "cases"),
        ),
        "F2P tests per case": (
            "f2p_tests.png",
            _histogram([c["f2p"] for c in cases], "fail-to-pass tests", "cases"),
        ),
        "time per stage": (
            "stage_seconds.png",
            _bars(list(stages), [s["seconds"] for s in stages.values()], "seconds"),
        ),
    }
    shown = {}
    for title, (name, figure) in plots.items():
        figure.suptitle(title)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=100)
        write_atomic(folder / name, buffer.getvalue())
        shown[title] = f"{folder.name}/{name}"
    return shown


def _histogram(values: Sequence[int], xlabel: str, ylabel: str) -> Figure:
    figure = Figure(figsize=(6, 3.5), layout="constrained")
    axes = figure.add_subplot()
    if values:
        # One bin per value when they are few, so small runs read exactly.
        bins = min(20, max(values) - min(values) + 1)
        axes.hist(values, bins=bins, color="#4c72b0", edgecolor="white")
    else:
        axes.text(0.5, 0.5, "no cases", ha="center", va="center", transform=axes.transAxes)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts of cases
    return figure


def _bars(labels: list[str], values: list[float], xlabel: str) -> Figure:
    figure = Figure(figsize=(6, 0.4 * max(len(labels), 3) + 1), layout="constrained")
    axes = figure.add_subplot()
    axes.barh(labels, values, color="#55a868")
    axes.invert_yaxis()  # stages top to bottom in the order they ran
    axes.set_xlabel(xlabel)
    return figure
