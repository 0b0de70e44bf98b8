"""The summary every run leaves: per stage, counts, time, and failures with reasons.

Printed at the end of the run, and kept as ``metadata_outputs/summary.json``
and ``logs/summary.txt``.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import click

from orchestrator.pipeline import addopts
from orchestrator.pipeline.engine import RunContext, SpecState
from orchestrator.pipeline.storage import read_json, write_atomic, write_json

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
    lines += _failure_lines(ctx, states)
    lines += _collect_error_lines(collect_errors(ctx))
    lines += [f"\n{spec}: {addopts.describe(fixed)}" for spec, fixed in _repairs(ctx).items()]
    if ctx.errors:
        lines.append("\nerrors:")
        lines += [f"  {error}" for error in ctx.errors]
    if ctx.llm is not None:
        lines.append("\n" + llm_line(ctx.llm.summary()))
    if ctx.warnings:
        lines.append("\nwarnings:")
        lines += [f"  {warning}" for warning in ctx.warnings]
    return "\n".join(lines) + "\n"


def _failure_lines(ctx: RunContext, states: list[SpecState]) -> list[str]:
    lines: list[str] = []
    stops = [state.stopped.partition(": ")[2] for state in states if state.stopped]
    for name, stats in ctx.stats.items():
        # A spec's stop is shown above: its reason is not repeated among the failures.
        reasons = [r for r in stats.reasons if not any(r.endswith(stop) for stop in stops)]
        if reasons:
            lines.append(f"\n{name} failures:")
            lines += [f"  {reason}" for reason in reasons[:_REASONS_SHOWN]]
            if len(reasons) > _REASONS_SHOWN:
                lines.append(f"  ... and {len(reasons) - _REASONS_SHOWN} more in summary.json")
    return lines


def _files_status(ctx: RunContext) -> dict[str, Any]:
    path = ctx.metadata / "files_status.json"
    return read_json(path) if path.is_file() else {}


def _repairs(ctx: RunContext) -> dict[str, dict[str, Any]]:
    """Per spec, the options of its pytest ``addopts`` dropped for absent plugins."""
    status = _files_status(ctx)
    return {spec: entry["addopts"] for spec, entry in status.items() if "addopts" in entry}


def collect_errors(ctx: RunContext) -> dict[str, dict[str, str]]:
    """Per spec, the test files that did not collect (a missing test dependency, say)."""
    status = _files_status(ctx)
    return {
        spec: entry["collect_errors"]
        for spec, entry in status.items()
        if entry.get("collect_errors")
    }


def _collect_error_lines(errors: dict[str, dict[str, str]]) -> list[str]:
    lines = []
    for spec, files in errors.items():
        lines.append(f"\n{spec}: {len(files)} test file(s) do not collect:")
        shown = list(files.items())[:_REASONS_SHOWN]
        lines += [f"  {path}: {_gist(message)}" for path, message in shown]
    return lines


def _gist(message: str) -> str:
    """The last line of a collection error: pytest puts the exception there."""
    lines = [line for line in message.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else "(no message)"


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
            "errors": ctx.errors,
            "collect_errors": collect_errors(ctx),
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
