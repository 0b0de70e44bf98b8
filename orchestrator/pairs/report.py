"""``pipeline_report.md`` of a build-pairs run: the funnel, why items dropped, tokens and cost."""

from __future__ import annotations

from typing import Any

from orchestrator.pairs.common import FUNNEL, reasons
from orchestrator.pipeline.engine import RunContext, SpecState
from orchestrator.pipeline.storage import write_atomic, write_json

REPORT = "pipeline_report.md"


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
    write_json(ctx.metadata / "pairs_report.json", data)
    write_atomic(ctx.root / REPORT, markdown(data).encode())


def markdown(data: dict[str, Any]) -> str:
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
