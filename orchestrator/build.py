"""``fbench build-cases``: set up the run directory, run the stages, leave a summary."""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
from contextlib import closing
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from orchestrator.environments.sandbox import sandbox_mode
from orchestrator.errors import Interrupted, RunFailed, UsageError
from orchestrator.executors import Executor, SpecWork, executor
from orchestrator.llm.config import LLMConfig
from orchestrator.pipeline.engine import RunContext, SpecState, Stage
from orchestrator.pipeline.progress import stage_progress
from orchestrator.pipeline.registry import registry
from orchestrator.pipeline.run_setup import (
    check_gpus as _check_gpus,
)
from orchestrator.pipeline.run_setup import (
    global_config,
)
from orchestrator.pipeline.run_setup import (
    llm_client as _llm_client,
)
from orchestrator.pipeline.run_setup import (
    load_run_specs as _load,
)
from orchestrator.pipeline.run_setup import (
    log_to as _log_to,
)
from orchestrator.pipeline.run_setup import (
    probe_llm as _probe_llm,
)
from orchestrator.pipeline.run_setup import (
    run_cache_dir as _cache_dir,
)
from orchestrator.pipeline.run_setup import (
    run_context as _context,
)
from orchestrator.pipeline.run_setup import (
    select_specs as _select,
)
from orchestrator.pipeline.run_setup import (
    specs_dir as _specs_dir,
)
from orchestrator.pipeline.run_setup import (
    write_run_metadata as _write_metadata,
)
from orchestrator.pipeline.specs import Spec
from orchestrator.pipeline.storage import (
    is_run_dir,
    new_run_dir,
    read_json,
)
from orchestrator.pipeline.summary import write_summary
from orchestrator.report.pipeline_report import write_pipeline_report
from orchestrator.stages import CACHED_STAGE_NAMES, STAGE_NAMES
from orchestrator.stages.data import remove_half_built
from orchestrator.stages.image import remove_replaced
from orchestrator.stages.registered import build_stages
from orchestrator.watch import Watcher, stage_ended

log = logging.getLogger("fbench")

BUILT_STAGES = ("repo", "image", "scanner", "runner", "dynamic", "top", "p2p", "data")


@dataclass
class BuildOptions:
    config_path: Path | None
    global_config_path: Path
    output_dir: Path
    resume: Path | None = None
    seed: int = 0
    debug_repos: tuple[str, ...] = ()
    debug_samples: tuple[str, ...] = ()
    log_level: str = "INFO"
    logs_dir: Path | None = None
    repos_dir: Path | None = None
    gpu_ids: tuple[int, ...] = ()
    debug: str = ""
    backend: str = "local"
    jobs: int = field(default_factory=lambda: os.cpu_count() or 1)
    cache_dir: Path | None = None
    no_cache: bool = False
    no_sandbox: bool = False
    executor: str = "local"  # where the specs run: local, ray (see orchestrator/executors)
    ray_address: str | None = None


@dataclass(frozen=True)
class DebugOptions:
    end: str = "data"
    cache: dict[str, bool] = field(default_factory=dict)


def parse_debug(
    text: str, stages: tuple[str, ...] = STAGE_NAMES, cached: tuple[str, ...] = CACHED_STAGE_NAMES
) -> DebugOptions:
    """``end=<stage>, <stage>=True|False`` as in seed 000 (``stages``: build-pairs' differ)."""
    end, cache = stages[-1], {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = (s.strip() for s in part.partition("="))
        if not sep:
            raise UsageError(f"--debug {text!r}: {part!r} is not key=value")
        if key == "end":
            if value not in stages:
                raise UsageError(
                    f"--debug end={value}: unknown stage; stages are {', '.join(stages)}"
                )
            end = value
        elif key in cached:
            if value not in ("True", "False", "true", "false"):
                raise UsageError(f"--debug {key}={value}: expected True or False")
            cache[key] = value.lower() == "true"
        else:
            raise UsageError(
                f"--debug {key}: unknown; use end=<stage> or one of {', '.join(cached)}"
            )
    return DebugOptions(end, cache)


@dataclass(frozen=True)
class _Plan:
    """What a run is made of, all checked before its directory exists."""

    specs: list[Spec]
    debug: DebugOptions
    run_env: dict[str, str]
    llm: tuple[LLMConfig | None, list[str]]
    specs_dir: Path
    executor: Executor


def build_cases(options: BuildOptions) -> Path:
    """Run the pipeline; returns the run directory, or raises RunFailed naming it."""
    recorded = _recorded_run(options.resume)
    plan = _plan(options, recorded)
    states = [SpecState(spec) for spec in plan.specs]
    with closing(plan.executor), _cache_dir(options, recorded) as cache_dir:
        root = _run_root(options)
        try:
            ctx = _run(options, plan, root, cache_dir, states)
        except KeyboardInterrupt:
            raise Interrupted(
                f"interrupted; the run so far is in {root}; continue it with:"
                f" fbench build-cases --resume {root}",
                run_dir=root,
            ) from None
        except BaseException:
            _discard_if_new(options, root, states)  # kept, and resumable, once it fetched
            raise
    _discard_if_new(options, root, states)
    _raise_if_failed(ctx, states)
    return root


def _plan(options: BuildOptions, recorded: dict[str, Any]) -> _Plan:
    debug = parse_debug(options.debug)
    specs = _select(_load(options), options.debug_repos)
    _check_gpus(specs, options.gpu_ids)
    run_env, llm_config = global_config(options.global_config_path)
    models = _probe_llm(llm_config)  # a missing key or a dead endpoint fails before the run dir
    if options.backend == "local" and not options.no_sandbox:
        sandbox_mode()  # so does a machine where nothing can confine the tests
    specs_dir = Path(recorded.get("specs_dir") or _specs_dir(options))
    chosen = executor(options.executor, options.ray_address)  # Ray missing: said before the run
    return _Plan(specs, debug, run_env, (llm_config, models), specs_dir, chosen)


def _run(
    options: BuildOptions, plan: _Plan, root: Path, cache_dir: Path, states: list[SpecState]
) -> RunContext:
    with (
        _log_to((options.logs_dir or root / "logs") / "fbench.log", options.log_level),
        closing(Watcher(root, "build_cases")) as watcher,
    ):
        ctx = _context(options, root, cache_dir, plan.debug, plan.run_env)
        ctx.llm = _llm_client(*plan.llm, ctx)
        _remove_leftovers(ctx)
        started = dt.datetime.now(dt.UTC)
        _write_metadata(ctx, options, states, started, plan.specs_dir)  # --resume works from here
        # The live bars end before the summary is printed, or they would draw over it.
        with stage_progress() as ctx.progress:
            stages = _stages(plan.specs_dir, plan.debug.end, ctx)
            work = SpecWork(ctx, stages, states, llm=plan.llm)
            work.stage_done = partial(_stage_done, work, watcher, options, started, plan.specs_dir)
            plan.executor.run_specs(work)
        if not _fetched_any(states):
            return ctx
        write_summary(ctx, states)
        write_pipeline_report(root)
    return ctx


def _stage_done(
    work: SpecWork,
    watcher: Watcher,
    options: BuildOptions,
    started: dt.datetime,
    specs_dir: Path,
    stage: str,
) -> None:
    """What follows a stage every spec has ended: the commits once fetched, its figures."""
    states = list(work.states)
    if not _fetched_any(states):
        return  # nothing was fetched: nothing else runs, and the run is discarded
    if stage == "repo":
        _write_metadata(work.ctx, options, states, started, specs_dir)
    if stage == "image":
        remove_replaced(work.ctx, states)  # the Docker images of keys replaced
    log.info("stage %s ended for every spec", stage)
    stage_ended(work.ctx, watcher, stage, states)


def _fetched_any(states: list[SpecState]) -> bool:
    return any("checkout" in state.values for state in states)


def _raise_if_failed(ctx: RunContext, states: list[SpecState]) -> None:
    """Exit non-zero when a spec stopped or a service failed; honest drops are not errors.

    One file that times out is data (retried next run); a stage where no item
    of a spec could run stops the spec (see the engine).
    """
    if not _fetched_any(states):
        reasons = "".join(f"\n  {state.name}: {state.stopped}" for state in states)
        raise RunFailed(f"nothing was run:{reasons}")
    stopped = [state.name for state in states if state.stopped]
    if not stopped and not ctx.errors:
        return
    found = [f"{len(stopped)} spec(s) stopped ({', '.join(stopped)})"] if stopped else []
    found += [f"{len(ctx.errors)} service error(s)"] if ctx.errors else []
    raise RunFailed(
        f"{' and '.join(found)}, listed above; after fixing the cause, continue with:"
        f" fbench build-cases --resume {ctx.root}",
        run_dir=ctx.root,
    )


def _discard_if_new(options: BuildOptions, root: Path, states: list[SpecState]) -> None:
    """A new run that fetched no repository holds nothing worth keeping: remove it."""
    if options.resume is not None:
        return
    if not _fetched_any(states):
        shutil.rmtree(root, ignore_errors=True)
        _remove_empty_parents(root.parent, options.output_dir)


def _remove_empty_parents(folder: Path, stop: Path) -> None:
    """The day directory made for a run that was discarded, if it holds no other run."""
    if folder != stop and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()


def _remove_leftovers(ctx: RunContext) -> None:
    """Temporaries a killed run left in the journal and the cache."""
    removed = ctx.journal.remove_stale_temporaries() + ctx.cache.remove_stale_temporaries()
    remove_half_built(ctx)
    if removed:
        log.info("removed %d temporary files left by killed runs", removed)


def _recorded_run(resume: Path | None) -> dict[str, Any]:
    """What the run to resume recorded about itself (its cache, its specs' directory)."""
    if resume is None:
        return {}
    if not is_run_dir(resume):
        raise UsageError(
            f"--resume {resume}: not a run directory (expected cases/, metadata_outputs/, logs/"
            " and debug_outputs/ in it); give the directory build-cases printed"
        )
    metadata = resume / "metadata_outputs" / "metadata.json"
    return dict(read_json(metadata)) if metadata.is_file() else {}


def _run_root(options: BuildOptions) -> Path:
    if options.resume is not None:
        return options.resume.resolve()
    try:
        return new_run_dir(options.output_dir, dt.datetime.now())
    except OSError as exc:
        raise UsageError(
            f"--output-dir {options.output_dir}: cannot make a run directory there"
            f" ({exc.strerror}); give a writable directory"
        ) from None


def _stages(specs_dir: Path, end: str, ctx: RunContext) -> list[Stage]:
    built = build_stages(registry("stages"), specs_dir)
    last = STAGE_NAMES.index(end)
    wanted = built[: 1 + max(i for i, s in enumerate(built) if s.name in STAGE_NAMES[: last + 1])]
    missing = [name for name in STAGE_NAMES[: last + 1] if name not in BUILT_STAGES]
    if missing:
        ctx.warn(
            f"stages {', '.join(missing)} are not part of this version yet;"
            f" the run stops after {BUILT_STAGES[-1]}"
        )
    return wanted
