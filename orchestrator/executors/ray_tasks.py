"""``--executor ray``: one Ray task per spec, every stage of the spec in that task.

A spec's environment lives on the node that made it, so its stages all run in
one task. The task works in a run directory of its own on its node and hands
back data: the spec's state, its figures per stage and the files it wrote (see
:mod:`orchestrator.executors.transfer`); the driver alone writes the run
directory, the journal and the summary. A task whose node dies is retried on
another node by Ray (``max_retries``); one that cannot be run at all is recorded
as the spec's error, and ``--resume`` runs it again.

Stages that keep files of every spec's rows (build-pairs') have a ``publish`` and
name those files in ``published``. A task sends back no such file (its copy holds
its own spec's rows alone); the driver calls ``publish`` for each stage whose
``apply`` ran in the task, so each file is written once per spec taken back, with
every spec's rows so far, as a local run writes it. In LLM mode the task makes its
own client and sends back what it spent, which the driver adds to its own
client's figures.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import ModuleType
from typing import Any

import msgspec

from orchestrator.errors import UsageError
from orchestrator.executors import SpecWork
from orchestrator.executors.transfer import Entry, journal_entries, pack, unpack, write_entries
from orchestrator.pipeline.engine import (
    RunContext,
    SpecState,
    Stage,
    StageStats,
    run_spec,
)
from orchestrator.pipeline.specs import Spec
from orchestrator.pipeline.storage import RUN_SUBDIRS, ResultCache, usable_cache_dir

log = logging.getLogger("fbench.executors")

CONTAINERS = "fbench_containers"  # a node's custom resource: Docker containers it runs at once
TASK_RETRIES = 3  # a node lost mid-task: Ray runs the task again elsewhere
NODE_LOCAL = ("environment",)  # values that stay on the worker: they name its processes


@dataclass
class SpecResult:
    state: SpecState
    stats: dict[str, StageStats]
    files: list[Entry]
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    node: str = ""
    llm: Any = None  # (LLMStats, down): what the task's LLM client spent, for the driver's


def _ray() -> ModuleType:
    try:
        import ray
    except ImportError:
        raise UsageError(
            "--executor ray needs Ray: pip install 'pytest-featurebench[ray]'"
        ) from None
    module: ModuleType = ray  # typed here: without Ray's stubs installed, ray is Any
    return module


class RayExecutor:
    def __init__(self, address: str | None = None):
        self.address = address
        self.ray = _ray()
        self.connected = False

    def connect(self, cpus: int) -> None:
        """Join the cluster at ``address``; without one, join this machine's or start one."""
        if self.connected:
            return
        ray, quiet = self.ray, {"log_to_driver": False, "configure_logging": False}
        try:
            ray.init(address=self.address or "auto", **quiet)
        except ConnectionError:
            if self.address:
                raise UsageError(
                    f"--ray-address {self.address}: no Ray cluster answers there;"
                    " start one with: ray start --head"
                ) from None
            resources = {CONTAINERS: float(cpus)}
            ray.init(num_cpus=cpus, resources=resources, include_dashboard=False, **quiet)
        self.connected = True
        log.info("Ray cluster: %s", ray.cluster_resources())

    def run_specs(self, work: SpecWork) -> None:
        self.connect(work.ctx.jobs)
        ray = self.ray
        shared = [ray.put(x) for x in (_template(work.ctx), list(work.stages))]
        layout = ray.put((_subdirs(work.ctx), journal_entries(work.ctx)))
        task = ray.remote(_spec_task)
        llm = _llm_payload(work.llm)
        pending = {
            task.options(**self._placement(work.ctx, state)).remote(
                *shared, msgspec.json.encode(state.spec), layout, llm
            ): state
            for state in work.states
        }
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            self._take(work, pending.pop(done[0]), done[0])

    def _placement(self, ctx: RunContext, state: SpecState) -> dict[str, Any]:
        """One CPU per spec task; a container slot too when its tests run in Docker."""
        options: dict[str, Any] = {"num_cpus": 1, "max_retries": TASK_RETRIES}
        docker = ctx.backend == "docker" or (
            ctx.backend == "local" and state.spec.settings.env_manager == "docker"
        )
        if docker and CONTAINERS in self.ray.cluster_resources():
            options["resources"] = {CONTAINERS: 1}
        elif docker:
            ctx.warn(
                f"no Ray node declares {CONTAINERS}: containers per node are not capped;"
                f" start nodes with: ray start --resources '{{\"{CONTAINERS}\": 4}}'"
            )
        return options

    def _take(self, work: SpecWork, state: SpecState, ref: Any) -> None:
        try:
            result: SpecResult = self.ray.get(ref)
        except self.ray.exceptions.RayError as exc:
            _lost(work, state, f"its Ray task failed: {str(exc).splitlines()[0]}")
            return
        unpack(result.files, work.ctx)
        state.values.update(result.state.values)
        state.fingerprints.update(result.state.fingerprints)
        state.stopped = result.state.stopped
        for message in result.warnings:
            work.ctx.warn(message)
        for message in result.errors:
            work.ctx.error(message)
        if result.llm is not None and work.ctx.llm is not None:
            work.ctx.llm.add(*result.llm)
        _publish(work, state, result.state.fingerprints)
        log.info("%s: ran on Ray node %s", state.name, result.node)
        show = work.progress_of(state.name)
        for stage in work.stages:
            stats = result.stats[stage.name]
            if stats.items:
                show(stage.name, stats.items, stats.items)
            work.ended(state.name, stage.name, stats)

    def close(self) -> None:
        if self.connected:
            self.ray.shutdown()  # leaves a cluster it joined; stops one it started
            self.connected = False


def _lost(work: SpecWork, state: SpecState, reason: str) -> None:
    """A spec whose task never came back: an error of the run, which --resume runs again."""
    work.ctx.error(f"{state.name}: {reason}")
    state.stopped = f"{work.stages[0].name}: {reason}"
    for index, stage in enumerate(work.stages):
        stats = StageStats()
        if index == 0:
            stats.errors, stats.reasons = 1, [f"{state.name}: {reason}"]
        work.ended(state.name, stage.name, stats)


def _publish(work: SpecWork, state: SpecState, applied: dict[str, str]) -> None:
    """Stages that write files of every spec's rows (build-pairs') add this spec's rows,
    as their ``apply`` would have here. ``applied``: the task's fingerprints; the engine
    sets a stage's just before its ``apply``, and a task's state starts with none."""
    for stage in work.stages:
        publish = getattr(stage, "publish", None)
        if publish is not None and stage.name in applied:
            publish(work.ctx, state)


def _published(stages: list[Stage]) -> frozenset[str]:
    """The files the driver's ``publish`` writes, which a task does not send back."""
    return frozenset(path for stage in stages for path in getattr(stage, "published", ()))


def _subdirs(ctx: RunContext) -> list[str]:
    """The run directory's folders (build-cases' and build-pairs' differ), for a worker's."""
    return sorted({*RUN_SUBDIRS, *(p.name for p in ctx.root.iterdir() if p.is_dir())})


def _llm_payload(llm: Any) -> tuple[Any, str] | None:
    """The run's [llm] and its key, for a worker's own client: a worker node has no
    environment of the user's to read the key from. Sent with the task, never a file."""
    if llm is None or llm[0] is None:
        return None
    from orchestrator.llm.config import api_key

    return llm[0], api_key(llm[0])


def _template(ctx: RunContext) -> RunContext:
    """What a worker needs of the run's context: its settings, none of its open state."""
    return replace(ctx, llm=None, stats={}, warnings=[], errors=[], progress=_quiet)


def _quiet(stage: str, done: int, total: int) -> None:
    return None


def _spec_task(
    template: RunContext,
    stages: list[Stage],
    spec: bytes,
    layout: tuple[list[str], list[Entry]],
    llm: tuple[Any, str] | None,
) -> SpecResult:
    """On a worker: every stage of one spec, in a run directory of the task's own.

    The spec comes as JSON, not pickled: an unpickled struct holds copies of its
    defaults, which msgspec then writes out (omit_defaults goes by identity), so the
    cases and every cache key would differ from a local run's.
    """
    state = SpecState(msgspec.json.decode(spec, type=Spec))
    os.environ.update(template.run_env)  # config.toml's [env], as the driver applied it
    with tempfile.TemporaryDirectory(prefix="fbench-spec-") as folder:
        root = Path(folder)
        subdirs, entries = layout  # the run's folders, and its journal so far
        for sub in subdirs:
            (root / sub).mkdir()
        sent = write_entries(root, entries)
        ctx = _worker_context(template, root, llm)
        stats: dict[str, StageStats] = {}
        run_spec(ctx, stages, state, stats.__setitem__)
        for key in NODE_LOCAL:
            state.values.pop(key, None)
        files = pack(root, skip=sent | _published(stages))
    spent = (ctx.llm.stats, ctx.llm.down) if ctx.llm is not None else None
    return SpecResult(state, stats, files, ctx.warnings, ctx.errors, _node_id(), spent)


def _worker_context(template: RunContext, root: Path, llm: Any) -> RunContext:
    cache_dir = usable_cache_dir(template.cache_dir)  # this node's, or the shared one
    ctx = replace(
        template,
        root=root,
        journal=ResultCache(root / "metadata_outputs" / "journal"),
        logs_dir=root / "logs",
        cache=ResultCache(cache_dir),
        cache_dir=cache_dir,
    )
    if llm is not None:
        from orchestrator.llm.client import LLM

        ctx.llm = LLM(llm[0], llm[1], ctx.cache, ctx.logs_dir)
    return ctx


def _node_id() -> str:
    import ray

    return str(ray.get_runtime_context().get_node_id())
