"""The watcher: every stage's metrics, as events, to the sinks of the run.

An event is one figure (``name`` = ``value``) of one stage, for one spec or for
the whole run (spec ``*``). Sinks are ``featurebench.sinks`` components; the
``jsonl`` log and the ``sqlite`` index that ``fbench metrics`` reads are always on.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import msgspec

from orchestrator.pipeline.registry import registry

ALWAYS_ON = ("jsonl", "sqlite")
WHOLE_RUN = "*"


class Event(msgspec.Struct, frozen=True):
    run: str
    pipeline: str
    stage: str
    spec: str
    name: str
    value: float
    time: float


class Sink(Protocol):
    def __init__(self, metadata: Path) -> None: ...

    def write(self, events: Sequence[Event]) -> None:
        """Keep ``events`` durably before returning: a killed run keeps what it reported."""

    def close(self) -> None: ...


class Watcher:
    def __init__(self, run_root: Path, pipeline: str, sinks: Sequence[str] = ()):
        self.run = str(run_root)
        self.pipeline = pipeline
        # Every type is looked up before any sink opens a file, so a wrong one leaks nothing.
        kinds = [registry("sinks").get(name) for name in dict.fromkeys([*ALWAYS_ON, *sinks])]
        self.sinks: list[Sink] = [kind(run_root / "metadata_outputs") for kind in kinds]

    def watch(self, stage: str, figures: dict[str, float], spec: str = WHOLE_RUN) -> None:
        now = time.time()
        events = [
            Event(self.run, self.pipeline, stage, spec, name, float(value), now)
            for name, value in figures.items()
        ]
        for sink in self.sinks:
            sink.write(events)

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()


def stage_figures(stats: Any, llm: Any) -> dict[str, float]:
    """A stage's durations, counts, pass rate, the LLM's tokens and cost so far, and memory."""
    figures = {
        "seconds": stats.seconds,
        "items": stats.items,
        "ok": stats.ok,
        "failed": stats.failed,
        "errors": stats.errors,
        "cached": stats.cached,
        # ru_maxrss of the children: the largest finished child, in KiB on Linux; free to ask.
        "peak_child_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }
    judged = stats.ok + stats.failed
    if judged:
        figures["pass_rate"] = stats.ok / judged
    if llm is not None:
        figures["llm_prompt_tokens"] = llm.stats.prompt_tokens
        figures["llm_completion_tokens"] = llm.stats.completion_tokens
        if llm.stats.cost is not None:
            figures["llm_cost"] = llm.stats.cost
    return figures


def stage_ended(ctx: Any, watcher: Watcher, stage: str, states: Sequence[Any]) -> None:
    """After each stage: its ``context_infos`` entry, its figures, and which specs it stopped."""
    from orchestrator.pipeline.context_infos import record, stage_entry

    stats = ctx.stats[stage]
    record(ctx.metadata / "metadata.json", watcher.pipeline, stage_entry(stage, stats))
    watcher.watch(stage, stage_figures(stats, ctx.llm))
    for state in states:
        stopped = state.stopped is not None and state.stopped.startswith(f"{stage}:")
        watcher.watch(stage, {"stopped": stopped}, spec=state.name)
