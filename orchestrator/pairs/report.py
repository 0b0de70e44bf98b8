"""``pipeline_report.md`` of a build-pairs run: the funnel, why items dropped, tokens and cost."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from orchestrator.pairs.common import FUNNEL, reasons
from orchestrator.pipeline.engine import RunContext, SpecState
from orchestrator.pipeline.storage import write_atomic, write_json
from orchestrator.report.plots import _histogram

REPORT = "pipeline_report.md"
ASSETS = "pipeline_report"
# The metrics drawn, with the axis label; type-hint coverage is drawn in percent.
PLOTTED = {
    "pep8": "PEP 8 findings",
    "docstring": "PEP 257 findings",
    "type_hints": "type-hint coverage (%)",
    "complexity": "cyclomatic complexity",
}


def funnel_data(ctx: RunContext, states: list[SpecState]) -> dict[str, Any]:
    """Counts per funnel step (over every spec and per spec) and drop reasons per step."""
    per_spec = {
        s.name: {step: s.values.get("pairs_funnel", {}).get(step, 0) for step in FUNNEL}
        for s in states
    }
    return {
        "funnel": {step: sum(spec[step] for spec in per_spec.values()) for step in FUNNEL},
        "per_spec": per_spec,
        "dropped": {step: dict(reasons(states, step).most_common()) for step in FUNNEL},
        "stopped": {s.name: s.stopped for s in states if s.stopped},
        "llm": ctx.llm.summary() if ctx.llm is not None else None,
        "errors": ctx.errors,
    }


def write_pairs_report(ctx: RunContext, states: list[SpecState]) -> None:
    """``pipeline_report.md`` and the figures behind it, ``metadata_outputs/pairs_report.json``."""
    data = funnel_data(ctx, states)
    data["metrics"] = metric_values(states)
    write_json(ctx.metadata / "pairs_report.json", data)
    plots = write_metric_plots(ctx.root / ASSETS, data["metrics"])
    write_atomic(ctx.root / REPORT, markdown(data, plots).encode())


def metric_values(states: list[SpecState]) -> dict[str, list[int]]:
    """Each plotted metric's value for every response validated, whatever its verdict."""
    values: dict[str, list[int]] = {name: [] for name in PLOTTED}
    for state in states:
        for result in state.values.get("pairs_results", []):
            for name, metric in result.get("metrics", {}).items():
                if name in values:
                    scale = 100 if name == "type_hints" else 1
                    values[name].append(round(metric["value"] * scale))
    return values


def write_metric_plots(folder: Path, values: dict[str, list[int]]) -> dict[str, str]:
    """One histogram per metric (matplotlib's Agg renderer); title -> path in the run."""
    shown = {}
    for name, label in PLOTTED.items():
        figure = _histogram(values[name], label, "responses")
        figure.suptitle(label)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=100)
        write_atomic(folder / f"{name}.png", buffer.getvalue())
        shown[label] = f"{folder.name}/{name}.png"
    return shown


def markdown(data: dict[str, Any], plots: dict[str, str]) -> str:
    lines = ["# build-pairs report", "", "## Funnel", "", "| step | reached | dropped on the way |"]
    lines.append("|---|---|---|")
    for step in FUNNEL:
        lines.append(f"| {step} | {data['funnel'][step]} | {sum(data['dropped'][step].values())} |")
    lines += ["", "## Drop reasons", ""]
    for step, found in data["dropped"].items():
        lines += [f"- {step}: {reason} ({n})" for reason, n in found.items()]
    lines += ["", "## Per spec", "", "| spec | " + " | ".join(FUNNEL) + " |"]
    lines.append("|---" * (len(FUNNEL) + 1) + "|")
    for name, counts in data["per_spec"].items():
        lines.append(f"| {name} | " + " | ".join(str(counts[s]) for s in FUNNEL) + " |")
    lines += [f"\n{name} stopped: {why}" for name, why in data["stopped"].items()]
    lines += ["", "## Model", "", _llm_line(data["llm"])]
    lines += ["", "## Quality of the responses", ""]
    lines += [f"![{title}]({path})" for title, path in plots.items()]
    return "\n".join(lines) + "\n"


def _llm_line(stats: dict[str, Any] | None) -> str:
    if stats is None:
        return "offline: instructions rendered from the seeds, responses are the seeds themselves"
    cost = stats.get("cost")
    return (
        f"{stats['calls']} requests ({stats['cache_hits']} answered from the cache),"
        f" {stats['prompt_tokens']} prompt and {stats['completion_tokens']} completion tokens,"
        f" cost {cost if cost is not None else 'unknown'}"
    )
