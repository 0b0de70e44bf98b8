"""What a run of the pipeline sets up before its stages: specs, config, LLM, cache, context.

``fbench build-cases`` (orchestrator/build.py) and ``fbench build-pairs``
(orchestrator/pairs/run.py) set up their runs the same way; this is that one way.
"""

from __future__ import annotations

import logging
import os
import pprint
import tempfile
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from orchestrator import __version__
from orchestrator.errors import UsageError
from orchestrator.llm.client import LLM
from orchestrator.llm.config import LLMConfig, api_key, parse_llm_config
from orchestrator.pipeline.context_infos import kept
from orchestrator.pipeline.engine import RunContext, SpecState
from orchestrator.pipeline.repos import Checkout
from orchestrator.pipeline.specs import Spec, load_specs
from orchestrator.pipeline.storage import (
    ResultCache,
    default_cache_dir,
    usable_cache_dir,
    write_atomic,
    write_json,
)

if TYPE_CHECKING:  # build.py imports this module; its option types are for the checker only
    import datetime as dt

    from orchestrator.build import BuildOptions, DebugOptions

log = logging.getLogger("fbench")


def load_run_specs(options: BuildOptions) -> list[Spec]:
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


def select_specs(specs: list[Spec], wanted: tuple[str, ...]) -> list[Spec]:
    if not wanted:
        return specs
    names = {spec.name for spec in specs}
    unknown = [name for name in wanted if name not in names]
    if unknown:
        raise UsageError(
            f"--debug-repo {', '.join(unknown)}: no such spec; specs are {', '.join(sorted(names))}"
        )
    return [spec for spec in specs if spec.name in wanted]


def check_gpus(specs: list[Spec], gpu_ids: tuple[int, ...]) -> None:
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


def probe_llm(config: LLMConfig | None) -> list[str]:
    """The endpoint's models; raises with the variable or the URL when unusable."""
    return [] if config is None else LLM(config, api_key(config), None, None).models()


def llm_client(config: LLMConfig | None, models: list[str], ctx: RunContext) -> LLM | None:
    """The run's LLM client, caching in the run's cache; None means offline."""
    if config is None:
        return None
    if models and config.model not in models:
        ctx.warn(f"[llm] model {config.model!r} is not among the endpoint's models")
    log.info("LLM mode: %s at %s", config.model, config.base_url)
    return LLM(config, api_key(config), ResultCache(ctx.cache_dir), ctx.logs_dir)


@contextmanager
def run_cache_dir(options: BuildOptions, recorded: dict[str, Any]) -> Iterator[Path]:
    if options.no_cache:
        with tempfile.TemporaryDirectory(prefix="fbench-cache-") as temporary:
            yield Path(temporary)
        return
    # A resumed run keeps its own cache unless told otherwise.
    chosen = options.cache_dir or recorded.get("cache_dir") or default_cache_dir()
    yield usable_cache_dir(Path(chosen))


def run_context(
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


def specs_dir(options: BuildOptions) -> str:
    """Where relative local repository paths are read from: beside the specs file."""
    return str((options.config_path.parent if options.config_path else Path.cwd()).resolve())


def write_run_metadata(
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
def log_to(path: Path, level: str) -> Iterator[None]:
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
