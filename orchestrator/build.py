"""``fbench build-cases``: set up the run directory, run the stages, leave a summary."""

from __future__ import annotations

import datetime as dt
import logging
import os
import pprint
import shutil
import tempfile
import tomllib
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import msgspec

from orchestrator import __version__
from orchestrator.environments.sandbox import sandbox_mode
from orchestrator.errors import Interrupted, RunFailed, UsageError
from orchestrator.executors import Executor, SpecWork, executor
from orchestrator.llm.client import LLM
from orchestrator.llm.config import LLMConfig, api_key, parse_llm_config
from orchestrator.pipeline.context_infos import kept
from orchestrator.pipeline.engine import RunContext, SpecState, Stage
from orchestrator.pipeline.progress import stage_progress
from orchestrator.pipeline.registry import registry
from orchestrator.pipeline.repos import Checkout
from orchestrator.pipeline.specs import Spec, load_specs
from orchestrator.pipeline.storage import (
    ResultCache,
    default_cache_dir,
    is_run_dir,
    new_run_dir,
    read_json,
    usable_cache_dir,
    write_atomic,
    write_json,
)
from orchestrator.pipeline.summary import write_summary
from orchestrator.report.pipeline_report import write_pipeline_report
from orchestrator.stages import CACHED_STAGE_NAMES, STAGE_NAMES
from orchestrator.stages.data import remove_half_built
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


def _load(options: BuildOptions) -> list[Spec]:
    if options.config_path is not None:
        return load_specs(options.config_path)
    if options.resume is not None:
        backup = options.resume / "metadata_outputs" / "config_backup.py"
        if not backup.is_file():
            raise UsageError(
                f"--resume {options.resume}: {backup.name} is missing (the run stopped before"
                " writing it); give --config-path with the run's specs file too"
            )
        return load_specs(backup)
    raise UsageError(
        "--config-path is required (a .py or .toml specs file), unless --resume is given"
    )


def _select(specs: list[Spec], wanted: tuple[str, ...]) -> list[Spec]:
    if not wanted:
        return specs
    names = {spec.name for spec in specs}
    unknown = [name for name in wanted if name not in names]
    if unknown:
        raise UsageError(
            f"--debug-repo {', '.join(unknown)}: no such spec; specs are {', '.join(sorted(names))}"
        )
    return [spec for spec in specs if spec.name in wanted]


def _check_gpus(specs: list[Spec], gpu_ids: tuple[int, ...]) -> None:
    for spec in specs:
        wanted = spec.settings.docker_specs.run_args.cuda_visible_num
        if wanted is not None and not gpu_ids:
            raise UsageError(
                f"{spec.name} sets docker_specs.run_args.cuda_visible_num: give --gpu-ids, e.g. 0,1"
            )


def global_config(path: Path) -> tuple[dict[str, str], LLMConfig | None]:
    """The ``[env]`` table of config.toml (applied now) and its ``[llm]``; the file is optional."""
    if not path.is_file():
        return {}, None
    try:
        config = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML: {exc}") from None
    table = config.get("env", {})
    if not isinstance(table, dict) or not all(
        isinstance(v, str | int | float | bool) for v in table.values()
    ):
        raise UsageError(f"{path}: [env] must map variable names to plain values")
    env = {str(k): str(v) for k, v in table.items()}
    os.environ.update(env)
    return env, parse_llm_config(config.get("llm"), path)


def _probe_llm(config: LLMConfig | None) -> list[str]:
    """The endpoint's models; raises with the variable or the URL when unusable."""
    return [] if config is None else LLM(config, api_key(config), None, None).models()


def _llm_client(config: LLMConfig | None, models: list[str], ctx: RunContext) -> LLM | None:
    """The run's LLM client, caching in the run's cache; None means offline."""
    if config is None:
        return None
    if models and config.model not in models:
        ctx.warn(f"[llm] model {config.model!r} is not among the endpoint's models")
    log.info("LLM mode: %s at %s", config.model, config.base_url)
    return LLM(config, api_key(config), ResultCache(ctx.cache_dir), ctx.logs_dir)


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


@contextmanager
def _cache_dir(options: BuildOptions, recorded: dict[str, Any]) -> Iterator[Path]:
    if options.no_cache:
        with tempfile.TemporaryDirectory(prefix="fbench-cache-") as temporary:
            yield Path(temporary)
        return
    # A resumed run keeps its own cache unless told otherwise.
    chosen = options.cache_dir or recorded.get("cache_dir") or default_cache_dir()
    yield usable_cache_dir(Path(chosen))


def _context(
    options: BuildOptions, root: Path, cache_dir: Path, debug: DebugOptions, run_env: dict[str, str]
) -> RunContext:
    return RunContext(
        root=root,
        cache=ResultCache(cache_dir),
        journal=ResultCache(root / "metadata_outputs" / "journal"),
        jobs=options.jobs,
        seed=options.seed,
        logs_dir=(options.logs_dir or root / "logs").resolve(),
        repos_dir=(options.repos_dir or cache_dir / "repos").resolve(),
        cache_dir=cache_dir,
        backend=options.backend,
        cache_overrides=debug.cache,
        debug_samples=options.debug_samples,
        gpu_ids=options.gpu_ids,
        run_env=run_env,
        sandbox=not options.no_sandbox,
    )


def _specs_dir(options: BuildOptions) -> str:
    """Where relative local repository paths are read from: beside the specs file."""
    return str((options.config_path.parent if options.config_path else Path.cwd()).resolve())


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


def _write_metadata(
    ctx: RunContext,
    options: BuildOptions,
    states: list[SpecState],
    started: dt.datetime,
    specs_dir: Path,
) -> None:
    resolved: dict[str, dict[str, Any]] = {}
    for state in states:
        settings = msgspec.to_builtins(state.spec.settings)
        checkout: Checkout | None = state.values.get("checkout")
        if checkout is not None:
            settings["commit"] = checkout.commit
        resolved[state.name] = settings
    text = "# Specs of this run, with every commit resolved.\n" + "".join(
        f"\n{name} = {pprint.pformat(settings, sort_dicts=True)}\n"
        for name, settings in resolved.items()
    )
    write_json(
        ctx.metadata / "metadata.json",
        {
            **kept(ctx.metadata / "metadata.json"),  # a resumed run's earlier entries
            "featurebench": __version__,
            "started": started.isoformat(timespec="seconds"),
            "backend": options.backend,
            "seed": options.seed,
            "cache_dir": None if options.no_cache else str(ctx.cache_dir),
            "specs_dir": str(specs_dir),
            "specs": {
                name: {"repository": s["repository"], "commit": s.get("commit")}
                for name, s in resolved.items()
            },
        },
    )
    # Last: with it, --resume has the specs, and metadata.json (the cache) is there already.
    write_atomic(ctx.metadata / "config_backup.py", text.encode())


@contextmanager
def _log_to(path: Path, level: str) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("fbench")
    logger.addHandler(handler)
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        handler.close()
