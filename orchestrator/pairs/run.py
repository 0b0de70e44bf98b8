"""``fbench build-pairs``: build-cases' first five stages, then seeds, instruct, validate, dataset.

The composition reuses build-cases' own pieces (orchestrator/build.py): the
same specs, config.toml, LLM client, cache and stage objects, so a build-pairs
run after a build-cases run on the same spec takes repo, image, scanner,
runner and dynamic from the cache.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
from contextlib import closing
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from orchestrator.build import BuildOptions, parse_debug
from orchestrator.environments.sandbox import sandbox_mode
from orchestrator.errors import UsageError
from orchestrator.executors import SpecWork, executor
from orchestrator.pairs import PAIRS_STAGE_NAMES
from orchestrator.pairs.config import PairsConfig, load_pairs_config, parse_pairs
from orchestrator.pairs.dataset import DatasetStage
from orchestrator.pairs.instruct import InstructStage
from orchestrator.pairs.report import write_pairs_report
from orchestrator.pairs.seeds import SeedsStage
from orchestrator.pairs.self_validate import SelfTestsStage
from orchestrator.pairs.source import Source, check_source, parse_source
from orchestrator.pairs.source_seeds import SourceSeedsStage
from orchestrator.pairs.validate import ValidateStage
from orchestrator.pipeline.engine import RunContext, SpecState, Stage
from orchestrator.pipeline.progress import stage_progress
from orchestrator.pipeline.run_setup import (
    check_gpus,
    global_config,
    llm_client,
    load_run_specs,
    log_to,
    probe_llm,
    run_cache_dir,
    run_context,
    select_specs,
    specs_dir,
    write_run_metadata,
)
from orchestrator.pipeline.specs import RepoSpec, Spec
from orchestrator.pipeline.storage import is_run_dir, new_run_dir, read_json, write_json
from orchestrator.pipeline.summary import write_summary
from orchestrator.stages.dynamic import DynamicStage
from orchestrator.stages.image import ImageStage, remove_replaced
from orchestrator.stages.repo import RepoStage
from orchestrator.stages.runner import RunnerStage
from orchestrator.stages.scanner import ScannerStage
from orchestrator.watch import Watcher, stage_ended

log = logging.getLogger("fbench")

SHARED_STAGES = ("repo", "image", "scanner", "runner", "dynamic")
STAGES = (*SHARED_STAGES, *PAIRS_STAGE_NAMES)
CACHED = ("scanner", "runner", "dynamic", "seeds", "validate")
PAIRS_CONFIG = "pairs_config.json"
SOURCE_FILE = "pairs_source.json"  # a --source run's source, which --resume reads back
SOURCE_SPEC = "source"
RUN_SUBDIRS = (
    "seed_output",
    "self_oss_output",
    "validation_output",
    "final_dataset",
    "metadata_outputs",
    "logs",
)


@dataclass
class PairsOptions(BuildOptions):
    num_samples: int | None = None
    clean: bool = False
    batch_size: int = 8
    delay: float = 0.0
    source: str | None = None  # hf:NAME, jsonl:PATH or parquet:PATH instead of specs


def build_pairs(options: PairsOptions) -> tuple[Path, RunContext]:
    """Run the pairs pipeline; returns the run directory and the run's context."""
    config = _pairs_config(options)
    source = _source(options, config)  # checked now: a bad one leaves no run directory
    debug = parse_debug(options.debug, PAIRS_STAGE_NAMES if source else STAGES, CACHED)
    specs = (
        [source_spec(source)]
        if source
        else select_specs(load_run_specs(options), options.debug_repos)
    )
    check_gpus(specs, options.gpu_ids)
    run_env, llm_config = global_config(options.global_config_path)
    models = probe_llm(llm_config)
    chosen = executor(options.executor, options.ray_address)  # Ray missing: said now
    if options.clean and options.resume is None:
        clean_output(options.output_dir)
    root = _run_root(options)
    with (
        log_to(root / "pipeline.log", options.log_level),
        run_cache_dir(options, _recorded(options)) as cache_dir,
        stage_progress() as progress,
        closing(Watcher(root, "build_pairs")) as watcher,
    ):
        ctx = run_context(options, root, cache_dir, debug, run_env)
        write_json(ctx.metadata / PAIRS_CONFIG, config)  # what --resume reads back
        ctx.progress = progress
        ctx.llm = llm_client(llm_config, models, ctx)
        if source is not None:  # what --resume reads back
            write_json(ctx.metadata / SOURCE_FILE, {"source": str(source)})
        states = [SpecState(spec) for spec in specs]
        stages = _stages(options, config, source, debug.end)
        started = dt.datetime.now(dt.UTC)
        # --resume works from here: on Ray, the repo stage ends for every spec only once
        # the last spec's task is back, and a driver killed before that had no specs file.
        write_run_metadata(ctx, options, states, started, Path(specs_dir(options)))
        work = SpecWork(ctx, stages, states, llm=(llm_config, models))  # cut at --debug end
        work.stage_done = partial(_stage_done, work, options, started, watcher)
        with closing(chosen):
            chosen.run_specs(work)
        write_summary(ctx, states)
        write_pairs_report(ctx, states)
    return root, ctx


def _stages(
    options: PairsOptions, config: PairsConfig, source: Source | None, end: str
) -> list[Stage]:
    """The run's stages up to ``end``: the specs' repositories' eight, or a source's four."""
    seeds: Stage = (
        SeedsStage(config, options.num_samples)
        if source is None
        else SourceSeedsStage(source, config, options.num_samples)
    )
    stages = [
        *(_shared_stages(options) if source is None else []),
        seeds,
        InstructStage(options.batch_size, options.delay),
        ValidateStage(config) if source is None else SelfTestsStage(config),
        DatasetStage(),
    ]
    return stages[: [stage.name for stage in stages].index(end) + 1]


def _source(options: PairsOptions, config: PairsConfig) -> Source | None:
    """``--source``, or the one the run being resumed read; None: the specs' repositories."""
    if options.config_path is not None and options.source is not None:
        raise UsageError(
            "give --source or --config-path, not both: a run reads functions from one of them"
            " ([pairs] of a --source run goes in config.toml)"
        )
    text = options.source
    recorded = options.resume / "metadata_outputs" / SOURCE_FILE if options.resume else None
    if text is None and recorded is not None and recorded.is_file():
        text = str(read_json(recorded)["source"])
    if text is None:
        return None
    source = parse_source(text)
    check_source(source, config)
    sandbox_mode()  # the self-tests run confined: a machine that cannot, refuses now
    return source


def source_spec(source: Source) -> Spec:
    """The one spec of a --source run: it names the source; nothing of it is built."""
    return Spec(SOURCE_SPEC, RepoSpec(repository=str(source)))


def _stage_done(
    work: SpecWork, options: PairsOptions, started: dt.datetime, watcher: Watcher, stage: str
) -> None:
    if stage == "repo":
        folder = Path(specs_dir(options))
        write_run_metadata(work.ctx, options, list(work.states), started, folder)
    if stage == "image":
        remove_replaced(work.ctx, list(work.states))  # the Docker images of keys replaced
    stage_ended(work.ctx, watcher, stage, list(work.states))  # context_infos and metrics
    log.info("stage %s ended for every spec", stage)


def _recorded(options: PairsOptions) -> dict[str, Any]:
    """What a resumed run recorded about itself: its cache directory, say."""
    metadata = options.resume / "metadata_outputs" / "metadata.json" if options.resume else None
    return dict(read_json(metadata)) if metadata is not None and metadata.is_file() else {}


def _pairs_config(options: PairsOptions) -> PairsConfig:
    """The run's ``[pairs]``: from the files, or as the run being resumed recorded it."""
    if options.resume is not None and options.config_path is None:
        saved = options.resume / "metadata_outputs" / PAIRS_CONFIG
        if saved.is_file():
            return parse_pairs(read_json(saved), str(saved))
    return load_pairs_config(options.global_config_path, options.config_path)


def _shared_stages(options: BuildOptions) -> list[Stage]:
    base = options.config_path.parent if options.config_path else Path.cwd()
    return [RepoStage(base.resolve()), ImageStage(), ScannerStage(), RunnerStage(), DynamicStage()]


def is_pairs_run(path: Path) -> bool:
    return all((path / sub).is_dir() for sub in RUN_SUBDIRS)


def _run_root(options: PairsOptions) -> Path:
    if options.resume is None:
        return new_run_dir(options.output_dir, dt.datetime.now(), RUN_SUBDIRS)
    if not is_pairs_run(options.resume):
        raise UsageError(
            f"--resume {options.resume}: not a build-pairs run directory"
            f" (expected {', '.join(RUN_SUBDIRS)} in it)"
        )
    return options.resume


def clean_output(output_dir: Path) -> None:
    """Empty ``output_dir`` of its runs; refuse, touching nothing, if it holds anything else."""
    if not output_dir.exists():
        return
    runs: list[Path] = []
    latest = output_dir / "latest"
    for day in sorted(output_dir.iterdir()):
        if day == latest and day.is_symlink():  # the link to the newest run: made anew
            runs.append(day)
            continue
        inside = sorted(day.iterdir()) if day.is_dir() and _is_date(day.name) else None
        if inside is None or not all(_is_run(run) for run in inside):
            raise UsageError(
                f"--clean {output_dir}: {day.name} is not a featurebench run;"
                " give an --output-dir that holds only <YYYY-MM-DD>/<HH-MM-SS> runs"
            )
        runs.append(day)
    for day in runs:
        if day.is_symlink():
            day.unlink()
        else:
            shutil.rmtree(day)


def _is_date(name: str) -> bool:
    try:
        dt.date.fromisoformat(name)
    except ValueError:
        return False
    return True


def _is_run(path: Path) -> bool:
    return path.is_dir() and (is_pairs_run(path) or is_run_dir(path))
