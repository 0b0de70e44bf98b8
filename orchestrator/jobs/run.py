"""Run a job list: the four lists in order, each job's entry recorded as it ends.

The run directory holds ``metadata_outputs/metadata.json`` (``context_infos``:
list name -> ``[{meta_name, type, seconds, ...outputs}]``, rewritten atomically
after every job), the watcher's ``metrics.jsonl`` and ``metrics.sqlite``, the
job list as read (``job_list.json``, what ``--resume`` runs), ``logs/`` and
``jobs/<meta_name>/`` with each job's own outputs, and at the end ``report.md``.
A job is finished when its entry is there; ``--resume`` skips finished jobs and
runs the rest.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from orchestrator import __version__
from orchestrator.errors import FbenchError, RunFailed, UsageError
from orchestrator.jobs.config import Job, JobList, check_jobs, load_job_list, resolve
from orchestrator.jobs.hooks import JobContext, JobDefaults
from orchestrator.jobs.report import write_report
from orchestrator.pipeline.context_infos import record
from orchestrator.pipeline.registry import registry
from orchestrator.pipeline.run_setup import log_to as _log_to
from orchestrator.pipeline.storage import new_run_dir, read_json, write_json
from orchestrator.watch import Watcher

log = logging.getLogger("fbench")
SUBDIRS = ("metadata_outputs", "logs", "jobs")
SAVED = "job_list.json"


@dataclass
class SandboxOptions:
    config: Path | None
    output_dir: Path
    resume: Path | None = None
    defaults: JobDefaults = field(default_factory=JobDefaults)
    progress: Callable[[str], None] = lambda line: None  # one line as each job starts or ends


def run_sandbox(options: SandboxOptions) -> Path:
    """Run every job not finished yet; returns the run directory, or raises naming it."""
    job_list, recorded = _job_list(options)
    root = (options.resume or _new_root(options.output_dir)).resolve()
    metadata = root / "metadata_outputs" / "metadata.json"
    if options.resume is None:
        _start(root, metadata, job_list, options.defaults)
    elif options.defaults.cache_dir is None and recorded:  # a resumed run keeps its cache
        options.defaults = dataclasses.replace(options.defaults, cache_dir=Path(recorded))
    outputs = _finished(metadata)
    with (
        _log_to(root / "logs" / "fbench.log", "INFO"),  # the builds' own lines go here too
        closing(Watcher(root, "sandbox", job_list.sinks)) as watcher,
    ):
        for job in job_list.jobs:
            if job.meta_name in outputs:
                _say(options, f"{job.pipeline} {job.meta_name}: finished in an earlier attempt")
                continue
            _say(options, f"{job.pipeline} {job.meta_name} ({job.type}) ...")
            outputs[job.meta_name] = _run_job(job, job_list, outputs, root, options.defaults)
            record(metadata, job.pipeline, outputs[job.meta_name])  # first: a kill keeps it
            _report(watcher, job, outputs[job.meta_name])
            _say(
                options,
                f"{job.pipeline} {job.meta_name}: done in {outputs[job.meta_name]['seconds']:g}s",
            )
    write_report(root, read_json(metadata)["context_infos"])
    return root


def _say(options: SandboxOptions, line: str) -> None:
    log.info("%s", line)
    options.progress(line)


def _job_list(options: SandboxOptions) -> tuple[JobList, str | None]:
    """The job list, and the cache directory the run to resume used."""
    if options.resume is not None and options.config is not None:
        raise UsageError("--config and --resume: give one; a resumed run uses its saved job list")
    if options.resume is None:
        if options.config is None:
            raise UsageError(
                "--config is required (a YAML or TOML job list) unless --resume is given"
            )
        return load_job_list(options.config), None
    saved = options.resume / "metadata_outputs" / SAVED
    if not saved.is_file():
        raise UsageError(
            f"--resume {options.resume}: no metadata_outputs/{SAVED};"
            " give the directory fbench sandbox printed"
        )
    data = read_json(saved)
    jobs = tuple(Job(**job) for job in data["jobs"])
    check_jobs(jobs)  # a plugin uninstalled since: one line, before anything runs
    return JobList(Path(data["path"]), jobs, tuple(data["sinks"])), data.get("cache_dir")


def _new_root(output_dir: Path) -> Path:
    try:
        return new_run_dir(output_dir, dt.datetime.now(), SUBDIRS)
    except OSError as exc:
        raise UsageError(
            f"--output-dir {output_dir}: cannot make a run directory there ({exc.strerror});"
            " give a writable directory"
        ) from None


def _start(root: Path, metadata: Path, job_list: JobList, defaults: JobDefaults) -> None:
    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    about = {"featurebench": __version__, "job_list": str(job_list.path), "started": started}
    write_json(metadata, {**about, "context_infos": {}})
    saved = {
        "path": str(job_list.path),
        "jobs": [vars(job) for job in job_list.jobs],
        "sinks": list(job_list.sinks),
        "cache_dir": str(defaults.cache_dir.resolve()) if defaults.cache_dir else None,
    }
    write_json(root / "metadata_outputs" / SAVED, saved)  # last: with it, --resume works


def _finished(metadata: Path) -> dict[str, dict[str, Any]]:
    infos = read_json(metadata).get("context_infos", {}) if metadata.is_file() else {}
    return {entry["meta_name"]: entry for entries in infos.values() for entry in entries}


def _run_job(
    job: Job,
    job_list: JobList,
    outputs: dict[str, dict[str, Any]],
    root: Path,
    defaults: JobDefaults,
) -> dict[str, Any]:
    hook = registry("hooks").get(job.type)
    try:
        args = msgspec.convert(resolve(job.args, outputs), hook.Args)
    except msgspec.ValidationError as exc:
        raise UsageError(
            f"{job.where}: an argument taken from an earlier job does not fit: {exc}"
        ) from None
    ctx = JobContext(job.meta_name, root / "jobs" / job.meta_name, job_list.base, defaults)
    started = time.monotonic()
    try:
        produced = hook().run(args, ctx)
    except UsageError as exc:  # a bad input the checks up front could not see: still exit 2
        raise UsageError(f"{job.where}: {exc}", run_dir=root) from exc
    except FbenchError as exc:
        raise RunFailed(
            f"{job.where}: {job.type} failed: {exc}; after fixing the cause,"
            f" continue with: fbench sandbox --resume {root}",
            run_dir=root,
        ) from exc
    seconds = round(time.monotonic() - started, 3)
    return {"meta_name": job.meta_name, "type": job.type, "seconds": seconds, **produced}


def _report(watcher: Watcher, job: Job, entry: dict[str, Any]) -> None:
    """Numbers to the watcher: top-level ones for the run, ``figures`` per spec."""
    watcher.watch(job.meta_name, _numbers(entry))
    for spec, figures in entry.get("figures", {}).items():
        watcher.watch(job.meta_name, _numbers(figures), spec=spec)


def _numbers(entry: dict[str, Any], prefix: str = "") -> dict[str, float]:
    found: dict[str, float] = {}
    for key, value in entry.items():
        if isinstance(value, bool | int | float):
            found[prefix + key] = float(value)
        elif isinstance(value, dict) and key != "figures":
            found |= _numbers(value, f"{prefix}{key}.")
    return found
