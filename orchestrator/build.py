"""``fbench build-cases``: set up the run directory, run the stages, leave a summary."""

from __future__ import annotations

import datetime as dt
import logging
import os
import pprint
import tempfile
import tomllib
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from orchestrator import __version__
from orchestrator.errors import UsageError
from orchestrator.llm.client import LLM
from orchestrator.llm.config import LLMConfig, api_key, parse_llm_config
from orchestrator.pipeline.context_infos import kept
from orchestrator.pipeline.engine import RunContext, SpecState, Stage, run_stage
from orchestrator.pipeline.progress import stage_progress
from orchestrator.pipeline.registry import registry
from orchestrator.pipeline.repos import Checkout
from orchestrator.pipeline.specs import Spec, load_specs
from orchestrator.pipeline.storage import (
    ResultCache,
    default_cache_dir,
    is_run_dir,
    new_run_dir,
    write_atomic,
    write_json,
)
from orchestrator.pipeline.summary import write_summary
from orchestrator.report.pipeline_report import write_pipeline_report
from orchestrator.stages import CACHED_STAGE_NAMES, STAGE_NAMES
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


@dataclass(frozen=True)
class DebugOptions:
    end: str = "data"
    cache: dict[str, bool] = field(default_factory=dict)


def parse_debug(text: str) -> DebugOptions:
    """``end=<stage>, <stage>=True|False`` as in seed 000."""
    end, cache = "data", {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = (s.strip() for s in part.partition("="))
        if not sep:
            raise UsageError(f"--debug {text!r}: {part!r} is not key=value")
        if key == "end":
            if value not in STAGE_NAMES:
                raise UsageError(
                    f"--debug end={value}: unknown stage; stages are {', '.join(STAGE_NAMES)}"
                )
            end = value
        elif key in CACHED_STAGE_NAMES:
            if value not in ("True", "False", "true", "false"):
                raise UsageError(f"--debug {key}={value}: expected True or False")
            cache[key] = value.lower() == "true"
        else:
            raise UsageError(
                f"--debug {key}: unknown; use end=<stage> or one of {', '.join(CACHED_STAGE_NAMES)}"
            )
    return DebugOptions(end, cache)


def build_cases(options: BuildOptions) -> Path:
    """Run the pipeline; returns the run directory."""
    debug = parse_debug(options.debug)
    specs = _select(_load(options), options.debug_repos)
    _check_gpus(specs, options.gpu_ids)
    run_env, llm_config = global_config(options.global_config_path)
    models = _probe_llm(llm_config)  # a missing key or a dead endpoint fails before the run dir
    root = _run_root(options)
    with (
        _log_to((options.logs_dir or root / "logs") / "fbench.log", options.log_level),
        _cache_dir(options) as cache_dir,
        stage_progress() as progress,
        closing(Watcher(root, "build_cases")) as watcher,
    ):
        ctx = _context(options, root, cache_dir, debug, run_env)
        ctx.progress = progress
        ctx.llm = _llm_client(llm_config, models, ctx)
        states = [SpecState(spec) for spec in specs]
        stages = _stages(options, debug.end, ctx)
        started = dt.datetime.now(dt.UTC)
        for stage in stages:
            log.info("stage %s", stage.name)
            run_stage(ctx, stage, states)
            if stage.name == "repo":
                _write_metadata(ctx, options, states, started)
            stage_ended(ctx, watcher, stage.name, states)
        write_summary(ctx, states)
        write_pipeline_report(root)
    return root


def _load(options: BuildOptions) -> list[Spec]:
    if options.config_path is not None:
        return load_specs(options.config_path)
    if options.resume is not None:
        return load_specs(options.resume / "metadata_outputs" / "config_backup.py")
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
    if options.resume is None:
        return new_run_dir(options.output_dir, dt.datetime.now())
    if not is_run_dir(options.resume):
        raise UsageError(
            f"--resume {options.resume}: not a run directory"
            " (expected cases/, metadata_outputs/, logs/ and debug_outputs/ in it)"
        )
    return options.resume


@contextmanager
def _cache_dir(options: BuildOptions) -> Iterator[Path]:
    if options.no_cache:
        with tempfile.TemporaryDirectory(prefix="fbench-cache-") as temporary:
            yield Path(temporary)
        return
    default = default_cache_dir()
    yield (options.cache_dir or default).resolve()


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
    )


def _stages(options: BuildOptions, end: str, ctx: RunContext) -> list[Stage]:
    base = options.config_path.parent if options.config_path else Path.cwd()
    built = build_stages(registry("stages"), base.resolve())
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
    ctx: RunContext, options: BuildOptions, states: list[SpecState], started: dt.datetime
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
    write_atomic(ctx.metadata / "config_backup.py", text.encode())
    write_json(
        ctx.metadata / "metadata.json",
        {
            **kept(ctx.metadata / "metadata.json"),  # a resumed run's earlier entries
            "featurebench": __version__,
            "started": started.isoformat(timespec="seconds"),
            "backend": options.backend,
            "seed": options.seed,
            "specs": {
                name: {"repository": s["repository"], "commit": s.get("commit")}
                for name, s in resolved.items()
            },
        },
    )


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
