"""A job list file (YAML or TOML), read and checked whole before any job runs.

Four lists run in this order; each job is ``{type, meta_name, ...arguments}``.
An argument may be ``"${NAME.OUTPUT}"``: the output OUTPUT of the earlier job
NAME (the value itself, of any type); inside a longer string it is put in as
text. Every mistake is one line naming the file, the job and the key.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from orchestrator.errors import UsageError
from orchestrator.pipeline.registry import registry

LISTS = ("probe_jobs", "refine_recipe_jobs", "execution_jobs", "evaluation_jobs")
OTHER_KEYS = ("sinks",)  # watcher sinks beside the always-on ones, e.g. ["wandb"]
REFERENCE = re.compile(r"\$\{([A-Za-z0-9_-]+)\.([A-Za-z0-9_]+)\}")


@dataclass(frozen=True)
class Job:
    pipeline: str  # the list it is in
    type: str
    meta_name: str
    args: dict[str, Any]  # as written: references not yet resolved
    where: str  # "FILE: LIST[i] (META_NAME)", the start of every message about it


@dataclass(frozen=True)
class JobList:
    path: Path
    jobs: tuple[Job, ...]
    sinks: tuple[str, ...] = ()

    @property
    def base(self) -> Path:
        """Relative paths in the arguments start beside the file."""
        return self.path.parent


def load_job_list(path: Path) -> JobList:
    raw = _read(path)
    unknown = [key for key in raw if key not in (*LISTS, *OTHER_KEYS)]
    if unknown:
        known = ", ".join((*LISTS, *OTHER_KEYS))
        raise UsageError(f"{path}: {unknown[0]}: unknown key; the keys are {known}")
    jobs = tuple(job for name in LISTS for job in _jobs(path, name, raw.get(name, [])))
    if not jobs:
        raise UsageError(f"{path}: no jobs; give at least one of {', '.join(LISTS)}")
    check_jobs(jobs)
    return JobList(path.resolve(), jobs, _sinks(path, raw.get("sinks", [])))


def _read(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise UsageError(f"--config {path}: no such file; give a .yaml, .yml or .toml job list")
    text = path.read_bytes()
    try:
        if path.suffix == ".toml":
            data: Any = tomllib.loads(text.decode("utf-8"))
        elif path.suffix in (".yaml", ".yml"):
            data = msgspec.yaml.decode(text)
        else:
            raise UsageError(f"{path}: unknown format; a job list is a .yaml, .yml or .toml file")
    except (tomllib.TOMLDecodeError, msgspec.DecodeError, UnicodeDecodeError) as exc:
        one_line = " ".join(str(exc).split())
        raise UsageError(f"{path}: not valid {path.suffix[1:].upper()}: {one_line}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected a table with {', '.join(LISTS)}")
    return data


def _jobs(path: Path, name: str, items: object) -> list[Job]:
    if not isinstance(items, list):
        raise UsageError(f"{path}: {name}: expected a list of jobs, found {type(items).__name__}")
    return [_job(path, name, i, item) for i, item in enumerate(items)]


def _job(path: Path, name: str, index: int, item: object) -> Job:
    where = f"{path}: {name}[{index}]"
    if not isinstance(item, dict):
        raise UsageError(f"{where}: expected a table {{type, meta_name, ...}}")
    for key in ("type", "meta_name"):
        if not isinstance(item.get(key), str) or not item[key]:
            raise UsageError(f"{where}: {key}: required, a non-empty string")
    if not re.fullmatch(r"[A-Za-z0-9_-]+", item["meta_name"]):
        raise UsageError(f"{where}: meta_name: use letters, digits, _ and - only")
    args = {k: v for k, v in item.items() if k not in ("type", "meta_name")}
    where = f"{where} ({item['meta_name']})"
    return Job(name, item["type"], item["meta_name"], args, where)


def _sinks(path: Path, value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UsageError(f'{path}: sinks: expected a list of sink types such as ["wandb"]')
    known = registry("sinks").types()
    for sink in value:
        if sink not in known:
            raise UsageError(f"{path}: sinks: unknown sink {sink!r}; known: {', '.join(known)}")
    return tuple(value)


def check_jobs(jobs: tuple[Job, ...]) -> None:
    """Types, names, arguments and references, before anything runs."""
    seen: dict[str, Any] = {}  # meta_name -> its hook class
    for job in jobs:
        if job.meta_name in seen:
            raise UsageError(f"{job.where}: meta_name: {job.meta_name!r} is used twice; rename one")
        hooks = registry("hooks")
        if job.type not in hooks.types():
            known = ", ".join(hooks.types())
            raise UsageError(f"{job.where}: type: unknown hook {job.type!r}; known: {known}")
        hook = hooks.get(job.type)
        if not all(hasattr(hook, name) for name in ("Args", "outputs", "run")):
            raise UsageError(
                f"{job.where}: type: {job.type!r} is no hook (it needs Args, outputs and run);"
                " fix or uninstall the plugin that declares it (see fbench plugins)"
            )
        _check_args(job, hook, seen)
        seen[job.meta_name] = hook


def _check_args(job: Job, hook: Any, seen: dict[str, Any]) -> None:
    fields = {field.name: field for field in msgspec.structs.fields(hook.Args)}
    for key, value in job.args.items():
        if key not in fields:
            names = ", ".join(fields) or "none"
            raise UsageError(f"{job.where}: {key}: unknown argument of {job.type}; use {names}")
        _check_references(job, key, value, seen)
        if not _references(value):
            _check_type(job, key, value, fields[key].type)
    for name, field in fields.items():
        if field.required and name not in job.args:
            raise UsageError(f"{job.where}: {name}: required by {job.type}; add it to the job")


def _check_references(job: Job, key: str, value: object, seen: dict[str, Any]) -> None:
    for name, output in _references(value):
        if name not in seen:
            raise UsageError(
                f"{job.where}: {key}: ${{{name}.{output}}} names no earlier job;"
                " use the meta_name of a job listed before this one"
            )
        outputs = seen[name].outputs
        if output not in outputs:
            raise UsageError(
                f"{job.where}: {key}: ${{{name}.{output}}}: that job has no output {output!r};"
                f" its outputs are {', '.join(outputs)}"
            )


def _check_type(job: Job, key: str, value: object, kind: Any) -> None:
    try:
        msgspec.convert(value, kind)
    except msgspec.ValidationError as exc:
        raise UsageError(f"{job.where}: {key}: {exc}") from None


def _references(value: object) -> list[tuple[str, str]]:
    if isinstance(value, str):
        return REFERENCE.findall(value)
    if isinstance(value, list):
        return [ref for item in value for ref in _references(item)]
    if isinstance(value, dict):
        return [ref for item in value.values() for ref in _references(item)]
    return []


def resolve(value: Any, outputs: dict[str, dict[str, Any]]) -> Any:
    """``value`` with every reference replaced by the output it names."""
    if isinstance(value, str):
        whole = REFERENCE.fullmatch(value)
        if whole:
            return outputs[whole[1]][whole[2]]
        return REFERENCE.sub(lambda m: str(outputs[m[1]][m[2]]), value)
    if isinstance(value, list):
        return [resolve(item, outputs) for item in value]
    if isinstance(value, dict):
        return {key: resolve(item, outputs) for key, item in value.items()}
    return value
