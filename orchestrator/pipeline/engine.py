"""The stage engine: caching, resume, progress and ``--debug`` for every stage.

Stages say what their items are, what each item depends on, and how to run
one; the engine does the rest. An item's result is stored under the
fingerprint of exactly its inputs, the fingerprints of the upstream stages it
depends on and the stage's version (never paths of this run, clocks or object
identities: see :func:`orchestrator.storage.fingerprint`). Results go to the
run's journal (for ``--resume``) and to the shared cache (for later runs).
Infrastructure errors (a timeout, a crash) are never stored, so they are
retried; deterministic failures are kept with their reason.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import msgspec

from orchestrator.errors import FbenchError
from orchestrator.pipeline import interrupt
from orchestrator.pipeline.specs import Spec
from orchestrator.pipeline.storage import ResultCache, cache_lock, fingerprint

log = logging.getLogger("fbench.engine")

Status = Literal["ok", "failed", "flaky", "error"]


class Outcome(msgspec.Struct, omit_defaults=True):
    """The result of one item: ``error`` means infrastructure, retried next time."""

    status: Status
    reason: str | None = None
    data: Any = None
    # False: usable in this run but never stored, as it was made while a service (the LLM
    # endpoint) was failing; the next run and --resume make it again.
    keep: bool = True


class WorkItem(msgspec.Struct, frozen=True):
    key: str
    inputs: dict[str, Any]


@dataclass
class SpecState:
    """What the stages have learnt about one spec so far."""

    spec: Spec
    fingerprints: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    stopped: str | None = None  # why later stages skip this spec

    @property
    def name(self) -> str:
        return self.spec.name


class Stage(Protocol):
    name: str
    version: int
    depends_on: tuple[str, ...]
    cache_key: str | None  # the spec key that turns its cache on or off; None: never cached

    def items(self, ctx: RunContext, state: SpecState) -> list[WorkItem]: ...

    def run(self, ctx: RunContext, state: SpecState, item: WorkItem) -> Outcome: ...

    def apply(self, ctx: RunContext, state: SpecState, outcomes: dict[str, Outcome]) -> None: ...


@dataclass
class StageStats:
    items: int = 0
    cached: int = 0
    ok: int = 0
    failed: int = 0
    errors: int = 0
    seconds: float = 0.0
    reasons: list[str] = field(default_factory=list)


@dataclass
class RunContext:
    root: Path
    cache: ResultCache
    journal: ResultCache
    jobs: int
    seed: int
    logs_dir: Path
    repos_dir: Path
    cache_dir: Path
    backend: str
    cache_overrides: dict[str, bool] = field(default_factory=dict)
    debug_samples: tuple[str, ...] = ()
    gpu_ids: tuple[int, ...] = ()
    run_env: dict[str, str] = field(default_factory=dict)
    sandbox: bool = True  # False only with --no-sandbox: the tests run unconfined
    llm: Any = None  # an orchestrator.llm.client.LLM when config.toml has [llm]; else offline
    warnings: list[str] = field(default_factory=list)
    # Infrastructure failures (an LLM endpoint gone, say): recorded, and the run exits non-zero.
    errors: list[str] = field(default_factory=list)
    stats: dict[str, StageStats] = field(default_factory=dict)
    progress: Callable[[str, int, int], None] = lambda stage, done, total: None

    @property
    def metadata(self) -> Path:
        return self.root / "metadata_outputs"

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)
            log.warning(message)

    def error(self, message: str) -> None:
        """Record an infrastructure failure that the run's exit status must show."""
        if message not in self.errors:
            self.errors.append(message)
            log.error(message)


Progress = Callable[[str, int, int], None]


def run_stage(ctx: RunContext, stage: Stage, states: Sequence[SpecState]) -> None:
    """One stage across every spec, spec after spec (the stage-by-stage order)."""
    stats = ctx.stats.setdefault(stage.name, StageStats())
    started = time.monotonic()
    for state in states:
        if state.stopped is None:
            _run_spec(ctx, stage, state, stats)
    stats.seconds += time.monotonic() - started


def run_spec(
    ctx: RunContext,
    stages: Sequence[Stage],
    state: SpecState,
    ended: Callable[[str, StageStats], None],
    progress: Progress | None = None,
    pool: Executor | None = None,
) -> None:
    """Every stage for one spec, in order, on its own: ``ended`` hears of each stage's
    figures for this spec (empty ones for the stages a stopped spec skips)."""
    for stage in stages:
        stats = StageStats()
        if state.stopped is None:
            started = time.monotonic()
            _run_spec(ctx, stage, state, stats, progress, pool)
            stats.seconds = time.monotonic() - started
        ended(stage.name, stats)


def add_stats(total: StageStats, part: StageStats) -> None:
    total.items += part.items
    total.cached += part.cached
    total.ok += part.ok
    total.failed += part.failed
    total.errors += part.errors
    total.seconds += part.seconds
    total.reasons.extend(part.reasons)


def _run_spec(
    ctx: RunContext,
    stage: Stage,
    state: SpecState,
    stats: StageStats,
    progress: Progress | None = None,
    pool: Executor | None = None,
) -> None:
    progress = progress or ctx.progress
    try:
        items = stage.items(ctx, state)
    except FbenchError as exc:
        _stop(state, stage, stats, str(exc))
        return
    upstream = {name: state.fingerprints[name] for name in stage.depends_on}
    keys = {
        item.key: fingerprint(stage.name, stage.version, item.inputs, upstream) for item in items
    }
    outcomes: dict[str, Outcome] = {}
    pending: list[WorkItem] = []
    for item in items:
        found = _lookup(ctx, stage, state, keys[item.key])
        if found is None:
            pending.append(item)
        else:
            outcomes[item.key] = found
            stats.cached += 1
    stats.items += len(items)
    progress(stage.name, len(outcomes), len(items))
    ran = _run_items(ctx, stage, state, pending, keys, (len(outcomes), progress, pool))
    for item, outcome in ran:
        outcomes[item.key] = outcome
        # Infrastructure errors, and results made while a service failed, are retried.
        if outcome.status != "error" and outcome.keep and stage.cache_key is not None:
            ctx.journal.put(stage.name, keys[item.key], outcome)  # for --resume
    for key, outcome in outcomes.items():
        _count(stats, state, key, outcome)
    state.fingerprints[stage.name] = fingerprint(stage.name, sorted(keys.values()))
    try:
        with _apply_lock(stage):
            stage.apply(ctx, state, outcomes)
    except FbenchError as exc:
        _stop(state, stage, stats, str(exc))
    _stop_if_nothing_ran(state, stage, stats, outcomes)


_APPLY_LOCKS: dict[int, threading.Lock] = {}
_APPLY_LOCKS_GUARD = threading.Lock()


def _apply_lock(stage: Stage) -> threading.Lock:
    """One ``apply`` at a time per stage object: several keep every spec's rows and
    rewrite one file of them, which two specs streaming at once must not interleave."""
    with _APPLY_LOCKS_GUARD:
        return _APPLY_LOCKS.setdefault(id(stage), threading.Lock())


def _stop_if_nothing_ran(
    state: SpecState, stage: Stage, stats: StageStats, outcomes: dict[str, Outcome]
) -> None:
    """Nothing of this spec could run (a test_cmd that is not pytest, say): the spec's
    failure, not a file's, and the run's exit status shows it."""
    errors = [outcome.reason for outcome in outcomes.values() if outcome.status == "error"]
    if state.stopped is None and errors and len(errors) == len(outcomes):
        _stop(state, stage, stats, f"no item could run; first: {errors[0]}")


def _run_items(
    ctx: RunContext,
    stage: Stage,
    state: SpecState,
    pending: list[WorkItem],
    keys: dict[str, str],
    shared: tuple[int, Progress, Executor | None],
) -> list[tuple[WorkItem, Outcome]]:
    """``pending`` on ``shared``'s pool (items of every spec in flight, bounded by
    --jobs), or on a pool of their own."""
    done, progress, given = shared
    results: list[tuple[WorkItem, Outcome]] = []
    total = done + len(pending)

    def one(item: WorkItem) -> Outcome:
        if not caching_enabled(ctx, stage, state):
            return _attempt(ctx, stage, state, item)
        return _run_cached(ctx, stage, state, item, keys[item.key])

    pool = given or ThreadPoolExecutor(max_workers=max(1, ctx.jobs))
    futures = [pool.submit(one, item) for item in pending]
    try:
        for item, future in zip(pending, futures, strict=True):
            results.append((item, interrupt.wait(future)))
            done += 1
            progress(stage.name, done, total)
    except BaseException:
        # Ctrl-C: the queued items are dropped, not drained; the caller exits at once.
        for future in futures:
            future.cancel()
        if given is None:
            pool.shutdown(wait=False, cancel_futures=True)
        raise
    if given is None:
        pool.shutdown()
    return results


def _attempt(ctx: RunContext, stage: Stage, state: SpecState, item: WorkItem) -> Outcome:
    try:
        return stage.run(ctx, state, item)
    except FbenchError as exc:  # a known failure of this item: data, not a crash
        return Outcome("error", str(exc))


def _run_cached(
    ctx: RunContext, stage: Stage, state: SpecState, item: WorkItem, key: str
) -> Outcome:
    """Run one item under its entry's lock: a concurrent run waits, then reuses the result."""
    with cache_lock(ctx.cache_dir, stage.name, key):
        found = ctx.cache.get(stage.name, key)
        if found is not None:
            return msgspec.convert(found, Outcome)
        outcome = _attempt(ctx, stage, state, item)
        if outcome.status != "error" and outcome.keep:  # infrastructure errors: retried
            ctx.cache.put(stage.name, key, outcome)
        return outcome


def caching_enabled(ctx: RunContext, stage: Stage, state: SpecState) -> bool:
    if stage.cache_key is None:
        return False
    if stage.name in ctx.cache_overrides:  # --debug "<stage>=False" wins over the spec
        return ctx.cache_overrides[stage.name]
    return bool(getattr(state.spec.settings, stage.cache_key))


def _lookup(ctx: RunContext, stage: Stage, state: SpecState, key: str) -> Outcome | None:
    if stage.cache_key is None:
        return None
    stored = ctx.journal.get(stage.name, key)  # this run, before it was stopped
    if stored is None and caching_enabled(ctx, stage, state):
        stored = ctx.cache.get(stage.name, key)
    return None if stored is None else msgspec.convert(stored, Outcome)


def _count(stats: StageStats, state: SpecState, key: str, outcome: Outcome) -> None:
    if outcome.status == "ok":
        stats.ok += 1
        return
    if outcome.status == "error":
        stats.errors += 1
    else:
        stats.failed += 1
    stats.reasons.append(f"{state.name} {key}: {outcome.status}: {outcome.reason}")


def _stop(state: SpecState, stage: Stage, stats: StageStats, reason: str) -> None:
    state.stopped = f"{stage.name}: {reason}"
    stats.errors += 1
    stats.reasons.append(f"{state.name}: {reason}")
