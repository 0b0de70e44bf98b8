"""The summary every run leaves: per stage, counts, time, and failures with reasons.

Printed at the end of the run, and kept as ``metadata_outputs/summary.json``
and ``logs/summary.txt``.
"""

from __future__ import annotations

from dataclasses import asdict

import click

from orchestrator.pipeline.engine import RunContext, SpecState
from orchestrator.pipeline.storage import write_atomic, write_json

_REASONS_SHOWN = 10
_HEADER = (
    f"{'stage':<9} {'items':>6} {'cached':>7} {'ok':>5} {'failed':>7} {'errors':>7} {'time':>8}"
)


def summary_text(ctx: RunContext, states: list[SpecState]) -> str:
    lines = [
        f"run: {ctx.root}",
        "",
        _HEADER,
    ]
    for name, stats in ctx.stats.items():
        lines.append(
            f"{name:<9} {stats.items:>6} {stats.cached:>7} {stats.ok:>5} {stats.failed:>7}"
            f" {stats.errors:>7} {stats.seconds:>7.1f}s"
        )
    for state in states:
        passed = len(state.values.get("passed", []))
        candidates = len(state.values.get("f2p", []))
        written = state.values.get("cases", {})
        valid = sum(1 for names in written.values() if names)
        cases = sum(len(names) for names in written.values())
        status = (
            f"stopped at {state.stopped}"
            if state.stopped
            else f"{passed} passing test files, {candidates} F2P candidates"
            f" -> {valid} units with valid cases ({cases} cases)"
        )
        lines.append(f"\n{state.name}: {status}")
    for name, stats in ctx.stats.items():
        if stats.reasons:
            lines.append(f"\n{name} failures:")
            lines += [f"  {reason}" for reason in stats.reasons[:_REASONS_SHOWN]]
            if len(stats.reasons) > _REASONS_SHOWN:
                lines.append(
                    f"  ... and {len(stats.reasons) - _REASONS_SHOWN} more in summary.json"
                )
    if ctx.llm is not None:
        lines.append("\n" + llm_line(ctx.llm.summary()))
    if ctx.warnings:
        lines.append("\nwarnings:")
        lines += [f"  {warning}" for warning in ctx.warnings]
    return "\n".join(lines) + "\n"


def write_summary(ctx: RunContext, states: list[SpecState]) -> None:
    text = summary_text(ctx, states)
    write_atomic(ctx.logs_dir / "summary.txt", text.encode())
    write_json(
        ctx.metadata / "summary.json",
        {
            "stages": {name: asdict(stats) for name, stats in ctx.stats.items()},
            "specs": {
                s.name: {"stopped": s.stopped, "passed": s.values.get("passed", [])} for s in states
            },
            "warnings": ctx.warnings,
            "llm": ctx.llm.summary() if ctx.llm is not None else None,
        },
    )
    click.echo(text, err=True)


def llm_line(stats: dict[str, object]) -> str:
    cost = stats.get("cost")
    shown = f", cost {cost:.4f}" if isinstance(cost, float) else ""
    return (
        f"llm ({stats['model']}): {stats['calls']} requests answered"
        f" ({stats['attempts']} attempts, {stats['failures']} failed),"
        f" {stats['cache_hits']} from the cache,"
        f" {stats['prompt_tokens']} prompt + {stats['completion_tokens']} completion tokens{shown}"
    )
