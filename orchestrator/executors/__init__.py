"""Executors: where each spec's pass through the stages runs (``--executor``).

One protocol for every kind, registered as ``featurebench.executors`` entry
points. Whatever runs the stages, the driver (this process) alone writes the
run directory, the journal and the summary: an executor hands every spec's
figures back through a :class:`SpecWork`, stage by stage, as they come.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from orchestrator.pipeline.engine import (
    Progress,
    RunContext,
    SpecState,
    Stage,
    StageStats,
    add_stats,
)
from orchestrator.pipeline.registry import registry


class Executor(Protocol):
    """Runs every spec of ``work`` through its stages; returns when all have ended."""

    def run_specs(self, work: SpecWork) -> None: ...

    def close(self) -> None: ...


def executor(type_name: str, address: str | None = None) -> Executor:
    """The executor registered as ``type_name`` (``local``, ``ray``, ...)."""
    factory: Callable[[str | None], Executor] = registry("executors").get(type_name)
    return factory(address)


@dataclass
class SpecWork:
    """A run's specs and stages, and what the driver does as each spec ends a stage.

    ``stage_done`` is called once per stage, in stage order, when every spec has
    ended it (as the stage-by-stage order did after each stage): the run's
    figures of that stage are then in ``ctx.stats``.
    """

    ctx: RunContext
    stages: Sequence[Stage]
    states: Sequence[SpecState]
    stage_done: Callable[[str], None] = lambda stage: None
    llm: Any = None  # (LLMConfig | None, models): an executor elsewhere makes its own client
    _parts: dict[str, dict[str, StageStats]] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _shown: dict[str, dict[str, tuple[int, int]]] = field(default_factory=dict)

    def ended(self, spec: str, stage: str, stats: StageStats) -> None:
        """``spec`` has ended ``stage`` (or skipped it, stopped): the last one closes it."""
        with self._lock:
            parts = self._parts.setdefault(stage, {})
            parts[spec] = stats
            if len(parts) < len(self.states):
                return
            total = StageStats()
            for state in self.states:  # spec order, as the stage-by-stage loop counted
                add_stats(total, parts[state.name])
            self.ctx.stats[stage] = total
            self.stage_done(stage)

    def progress_of(self, spec: str) -> Progress:
        """One spec's progress, shown summed with the other specs' of the same stage."""

        def update(stage: str, done: int, total: int) -> None:
            with self._lock:
                shown = self._shown.setdefault(stage, {})
                shown[spec] = (done, total)
                counts = list(shown.values())
                self.ctx.progress(stage, sum(d for d, _ in counts), sum(t for _, t in counts))

        return update
