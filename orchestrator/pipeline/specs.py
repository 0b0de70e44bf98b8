"""Repository specs: what to build cases from, and how to install and test it.

Specs come from a Python module of ``SPECS_*`` dicts (seed 000's format) or a
TOML file with one table per spec. Both become :class:`RepoSpec`, a typed
struct holding every key seed 000 lists, with its default. Every problem in a
file is reported at once, one line each, naming the spec, the key, what was
expected and what was found.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import runpy
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, get_type_hints

import msgspec

from orchestrator.errors import SpecError
from orchestrator.pipeline.registry import registry


class RunArgs(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    cuda_visible_num: int | None = None
    number_once: int = 1
    shm_size: str | None = None
    cap_add: list[str] = []


class DockerSpecs(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    run_args: RunArgs = msgspec.field(default_factory=RunArgs)
    custom_docker_args: list[str] = []


class RepoSpec(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """One repository and how to turn it into cases. Keys and meaning follow seed 000."""

    repository: str
    # repo source
    commit: str | None = None
    clone_method: Literal["https", "ssh"] = "https"
    base_url: str = "https://github.com"
    # image build and install
    base_image: str = "base"
    python_version: str = "3.11"
    rebuild_base_image: bool = False
    rebuild_instance_image: bool = False
    custom_instance_image_build: list[str] = []
    pre_install: list[str] = []
    install: str = "pip install -e ."
    pip_packages: list[str] = []
    env_manager: str | None = None  # an environments type (uv, venv, conda, docker); --backend wins
    docker_specs: DockerSpecs = msgspec.field(default_factory=DockerSpecs)
    # test discovery
    test_scanner_cmd: list[str] = msgspec.field(
        default_factory=lambda: ["pytest", "--collect-only", "-q"]
    )
    timeout_scanner: int = 600
    scan_cache: bool = True
    start_time: str | None = None
    min_test_num: int = 1
    max_f2p_num: int = -1
    max_p2p_num: int = -1
    # test execution
    test_cmd: list[str] = msgspec.field(
        default_factory=lambda: ["pytest", "-q", "-p", "no:cacheprovider"]
    )
    timeout_run: int = 600
    timeout_one: int | None = None
    test_cache: bool = True
    rerun_failed: int = 1
    stability_runs: int = 3  # the final F2P/P2P set runs this many more times, once reversed
    # dynamic tracing
    test_dynamic_cmd: list[str] = []
    timeout_dynamic: int = 900
    dynamic_cache: bool = True
    # top selection
    llm_cache: bool = True
    batchsize_top: int = 5
    max_depth_top: int = 3
    # what one case is: a whole test file, a test class, tests sharing objects, or auto
    case_unit: Literal["auto", "file", "class", "group"] = "auto"
    max_top_objects: int = 40  # at most this many objects per case
    # p2p selection
    p2p_cache: bool = True
    min_p2p_files: int = 1
    max_p2p_files: int = 5
    max_code_line_lower_bound: int = 50
    max_code_line_upper_bound: int = 500
    # data stage and cases
    data_cache: bool = True
    timeout_collect: int = 120
    f2p_pass_rate_threshold: float = 0.2
    llm_prompt_for_case: bool = False
    # rendering
    library_name: str | None = None
    black_links: list[str] = []
    statement_writer: str = "template"  # a statement_writers type: who writes problem_statement.md
    grader: str = "strict"  # a graders type: how fbench eval judges this spec's cases


class Spec(msgspec.Struct, frozen=True):
    """A named spec, as the run uses it."""

    name: str
    settings: RepoSpec


FIELDS = frozenset(RepoSpec.__struct_fields__)
_TYPES: dict[str, Any] = get_type_hints(RepoSpec)
MAX_TIMEOUT = 7 * 24 * 3600  # a week: beyond it a timeout is a typo, and overflows timers
_TIMEOUT_KEYS = ("timeout_scanner", "timeout_run", "timeout_dynamic", "timeout_collect")
_PYPI = re.compile(r"^pypi:(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[A-Za-z0-9.+!_-]+)$")
_SLUG = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


def load_specs(path: Path) -> list[Spec]:
    """Read and check every spec of ``path`` (``.py`` or ``.toml``)."""
    raw = _read_raw(path)
    problems: list[str] = []
    specs: list[Spec] = []
    for name, data in raw.items():
        spec, found = check_spec(name, data, base=path.parent)
        problems += [f"{path}: {line}" for line in found]
        if spec is not None:
            specs.append(Spec(name, spec))
    if problems:
        raise SpecError(problems)
    return specs


def _read_raw(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise SpecError([f"{path}: no such specs file; pass --config-path a .py or .toml file"])
    if path.suffix == ".toml":
        try:
            tables = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise SpecError([f"{path}: not valid TOML: {exc}"]) from None
        # [pairs] is build-pairs' settings table (orchestrator/pairs/config.py), not a spec.
        found = {name: table for name, table in tables.items() if name != "pairs"}
    elif path.suffix == ".py":
        try:
            namespace = runpy.run_path(str(path))
        except SystemExit as exc:  # sys.exit() in the user's module is not our exit
            raise SpecError(
                [f"{path}: the module called sys.exit({exc.code!r}); define SPECS_* dicts only"]
            ) from None
        except Exception as exc:  # the specs module is the user's code; report, don't crash
            raise SpecError(
                [f"{path}: the module failed to run: {type(exc).__name__}: {exc}"]
            ) from None
        found = {k: v for k, v in namespace.items() if k.startswith("SPECS_")}
    else:
        raise SpecError([f"{path}: specs must be a .py module of SPECS_* dicts or a .toml file"])
    if not found:
        raise SpecError([f"{path}: no specs found; define SPECS_<NAME> dicts (or TOML tables)"])
    return found


def check_spec(name: str, data: object, base: Path) -> tuple[RepoSpec | None, list[str]]:
    """The spec, or the problems with it (each one line, naming spec and key)."""
    if not isinstance(data, dict):
        return None, [f"{name}: expected a table of keys, found {type(data).__name__}"]
    odd = [key for key in data if not isinstance(key, str)]
    if odd:
        return None, [
            f"{name}[{key!r}]: keys must be strings such as 'repository', found {key!r}"
            for key in odd
        ]
    problems = [_unknown_key(name, key) for key in data if key not in FIELDS]
    if "repository" not in data:
        problems.append(
            f"{name}.repository: required; give owner/name, a git URL, a path or pypi:NAME==VERSION"
        )
    for key, value in data.items():
        if key in FIELDS:
            problems += _check_type(name, key, value)
    if problems:
        return None, problems
    spec = msgspec.convert(data, RepoSpec)
    problems = _check_values(name, spec, base)
    return (None if problems else spec), problems


def _unknown_key(name: str, key: str) -> str:
    close = difflib.get_close_matches(key, list(FIELDS), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"{name}.{key}: unknown key{hint}"


def _check_type(name: str, key: str, value: object) -> list[str]:
    field_type = RepoSpec.__annotations__[key]
    try:
        msgspec.convert(value, _TYPES[key], strict=True)
    except msgspec.ValidationError as exc:
        message, _, where = str(exc).partition(" - at `$")
        # Inside a nested table, say where and what msgspec found there.
        nested = f"{message} at {key}{where.rstrip('`')}"
        detail = nested if where else f"a {type(value).__name__}"
        return [f"{name}.{key}: expected {_describe(field_type)}, found {value!r} ({detail})"]
    return []


def _describe(annotation: str) -> str:
    return annotation.replace("Literal", "one of ").replace("'", '"')


Problem = tuple[str, str, object]  # key, what was expected, what was found


def _check_values(name: str, spec: RepoSpec, base: Path) -> list[str]:
    """Checks of values and of keys against each other, once every type is right."""
    found = [
        *_check_source(spec, base),
        *_check_limits(spec),
        *_check_counts(spec),
        *_check_gpus(spec.docker_specs.run_args),
    ]
    return [f"{name}.{key}: expected {expected}, found {value!r}" for key, expected, value in found]


def _check_source(spec: RepoSpec, base: Path) -> Iterator[Problem]:
    if not _repository_form(spec.repository, base):
        yield (
            "repository",
            "owner/name, a git URL, an existing local path or pypi:NAME==VERSION",
            spec.repository,
        )
    if spec.start_time is not None and not _is_date(spec.start_time):
        yield "start_time", "a date YYYY-MM-DD", spec.start_time
    if not spec.test_cmd:
        yield "test_cmd", "a command list such as ['pytest', '-q']", spec.test_cmd
    managers = registry("environments").types()
    if spec.env_manager is not None and spec.env_manager not in managers:
        yield "env_manager", f"one of {', '.join(managers)}", spec.env_manager
    yield from _check_types(spec)


def _check_types(spec: RepoSpec) -> Iterator[Problem]:
    for key, kind in (("statement_writer", "statement_writers"), ("grader", "graders")):
        known = registry(kind).types()
        if getattr(spec, key) not in known:
            yield key, f"one of {', '.join(known)}", getattr(spec, key)


def _check_limits(spec: RepoSpec) -> Iterator[Problem]:
    for key in _TIMEOUT_KEYS:
        value = getattr(spec, key)
        if value != -1 and not 0 < value <= MAX_TIMEOUT:
            yield key, f"a number of seconds from 1 to {MAX_TIMEOUT}, or -1 for no limit", value
    if spec.timeout_one is not None and not 0 < spec.timeout_one <= MAX_TIMEOUT:
        yield "timeout_one", f"a number of seconds from 1 to {MAX_TIMEOUT}", spec.timeout_one
    if not 0.0 <= spec.f2p_pass_rate_threshold <= 1.0:
        yield "f2p_pass_rate_threshold", "a rate between 0 and 1", spec.f2p_pass_rate_threshold


def _check_counts(spec: RepoSpec) -> Iterator[Problem]:
    for key in ("max_f2p_num", "max_p2p_num"):
        if getattr(spec, key) != -1 and getattr(spec, key) < 1:
            yield key, "-1 (no limit) or a count >= 1", getattr(spec, key)
    if spec.max_p2p_num != -1 and (spec.max_f2p_num == -1 or spec.max_p2p_num < spec.max_f2p_num):
        expected = f"-1 or at least the fail-to-pass count (max_f2p_num={spec.max_f2p_num})"
        yield "max_p2p_num", expected, spec.max_p2p_num
    counts = ("min_test_num", "batchsize_top", "max_depth_top", "max_top_objects", "min_p2p_files")
    for key in counts:
        if getattr(spec, key) < (0 if key == "min_p2p_files" else 1):
            yield key, "a positive count", getattr(spec, key)
    for key in ("rerun_failed", "stability_runs"):
        if getattr(spec, key) < 0:
            yield key, "a count >= 0", getattr(spec, key)
    if spec.max_p2p_files < spec.min_p2p_files:
        yield "max_p2p_files", f"at least min_p2p_files ({spec.min_p2p_files})", spec.max_p2p_files
    lower, upper = spec.max_code_line_lower_bound, spec.max_code_line_upper_bound
    if upper < lower:
        yield "max_code_line_upper_bound", f"at least max_code_line_lower_bound ({lower})", upper


def _check_gpus(run_args: RunArgs) -> Iterator[Problem]:
    pool = run_args.cuda_visible_num
    if pool is None:
        return
    if pool < 1:
        yield "docker_specs.run_args.cuda_visible_num", "None or a GPU count >= 1", pool
    elif run_args.number_once > pool:
        yield (
            "docker_specs.run_args.number_once",
            f"at most cuda_visible_num ({pool})",
            run_args.number_once,
        )


def _repository_form(repository: str, base: Path) -> bool:
    if _PYPI.match(repository) or _SLUG.match(repository):
        return True
    if re.match(r"^(https?|ssh|git|file)://", repository) or re.match(
        r"^[\w.-]+@[\w.-]+:", repository
    ):
        return True
    return (base / repository).expanduser().is_dir()


def _is_date(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", text))


def pypi_requirement(repository: str) -> tuple[str, str] | None:
    """``pypi:NAME==VERSION`` as (name, version), or None for other forms."""
    match = _PYPI.match(repository)
    return (match["name"], match["version"]) if match else None
