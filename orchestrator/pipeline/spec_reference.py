"""The reference of every spec key, generated from :class:`RepoSpec` and kept in specs/REFERENCE.md.

Types and defaults come from the struct itself; only the meanings are written
here. A key without a meaning is an error, so a new key cannot reach a user
undocumented; a test holds ``specs/REFERENCE.md`` to :func:`reference_markdown`.
Regenerate it with ``python -m orchestrator.pipeline.spec_reference > specs/REFERENCE.md``.
"""

from __future__ import annotations

import re
from typing import Any, get_type_hints

import msgspec

from orchestrator.pipeline.specs import DockerSpecs, RepoSpec, RunArgs

MEANINGS = {
    "repository": "what to build cases from: `owner/name` (cloned from `base_url`), a git URL,"
    " a local path (relative to the specs file), or `pypi:NAME==VERSION` (the sdist from PyPI"
    " as a one-commit repository)",
    "commit": "the commit, tag or branch to check out; none: the default branch's head",
    "clone_method": "how `owner/name` is cloned: `https` or `ssh`",
    "base_url": "the host of `owner/name` repositories",
    "base_image": "the Docker backend's base image template (`dockerfiles/<name>.Dockerfile`)",
    "python_version": "the Python of the environment (a version uv can provide)",
    "rebuild_base_image": "Docker: build the base image again even if it exists",
    "rebuild_instance_image": "Docker: build the instance image again, without Docker's cache",
    "custom_instance_image_build": "Docker: extra Dockerfile lines for the instance image",
    "pre_install": "shell commands run in the repository before `install`",
    "install": "the shell command that installs the project into the environment",
    "pip_packages": (
        "packages installed into the environment beside the project (pytest, ...),"
        " before `pre_install` and `install`, so the project's own install wins"
    ),
    "docker_specs": "Docker: the containers' run arguments and extra `-e`/`-v` arguments",
    "docker_specs.run_args": "Docker: how the containers run",
    "docker_specs.run_args.cuda_visible_num": "Docker: GPUs per container, drawn from --gpu-ids",
    "docker_specs.run_args.number_once": "Docker: GPUs handed out at once",
    "docker_specs.run_args.shm_size": "Docker: the containers' /dev/shm size, e.g. `2g`",
    "docker_specs.run_args.cap_add": "Docker: Linux capabilities added to the containers",
    "docker_specs.custom_docker_args": "Docker: `-e NAME=VALUE` and `-v HOST:CONTAINER`"
    " arguments for the containers",
    "env_manager": "the environment manager (uv, venv, conda, docker, or a plugin's type);"
    " --backend overrides it",
    "test_scanner_cmd": "the command that collects the tests (the plugin adds its options)",
    "timeout_scanner": "seconds for the collection",
    "scan_cache": "reuse the scanner's cached result",
    "start_time": "fail-to-pass candidates are test files last changed on or after this ISO date",
    "min_test_num": "the fewest tests a fail-to-pass candidate file has",
    "max_f2p_num": "at most this many fail-to-pass candidates, newest first (-1: all)",
    "max_p2p_num": "at most this many pass-to-pass candidate files, drawn with --seed (-1: all)",
    "test_cmd": "the command that runs a test file (the plugin adds its options)",
    "timeout_run": "seconds for one test file's run",
    "timeout_one": "seconds for one test (`--fb-timeout`); none: no limit per test",
    "test_cache": "reuse the runner's cached results",
    "rerun_failed": "how many times failing test files are run again to name flaky tests",
    "stability_runs": "a case's tests run this many more times on its gold tree, the last run"
    " in reverse order; a test whose outcome changes drops the case (0: off)",
    "test_dynamic_cmd": "extra arguments for the traced runs",
    "timeout_dynamic": "seconds for one traced test file",
    "dynamic_cache": "reuse the dynamic stage's cached traces",
    "llm_cache": "reuse cached top selections and model answers",
    "batchsize_top": "LLM mode: candidate objects per request",
    "max_depth_top": "candidates are project objects reached within this call depth",
    "case_unit": "what one case's fail-to-pass tests are: a whole test file, a test class,"
    " a group of tests sharing their objects, or auto (the file, else classes, else groups)",
    "max_top_objects": "the most objects one case takes out",
    "p2p_cache": "reuse the p2p stage's cached draw",
    "min_p2p_files": "the fewest pass-to-pass files a case has",
    "max_p2p_files": "the most pass-to-pass files a case has",
    "max_code_line_lower_bound": "the line budget of a feature is drawn between this",
    "max_code_line_upper_bound": "... and this",
    "data_cache": "reuse the data stage's cached cases",
    "timeout_collect": "seconds for a `pytest --collect-only` probe of a masked tree",
    "f2p_pass_rate_threshold": "a masked feature is kept if at most this share of the"
    " fail-to-pass file's tests still pass",
    "llm_prompt_for_case": "LLM mode: the model writes the task statement and missing docstrings",
    "library_name": "the library's name in problem statements (default: the repository's)",
    "black_links": "URLs the problem statement tells the agent not to visit",
    "statement_writer": "what writes problem_statement.md: a statement_writers type",
    "grader": "how fbench eval judges the cases: a graders type (see fbench plugins)",
}


def key_rows() -> list[tuple[str, str, str, str]]:
    """(key, type, default, meaning) of every spec key, nested keys dotted."""
    rows = _rows(RepoSpec, "")
    undocumented = [key for key, *_ in rows if key not in MEANINGS]
    if undocumented:
        raise KeyError(f"spec keys without a meaning in spec_reference.py: {undocumented}")
    return rows


def _rows(struct: type[msgspec.Struct], prefix: str) -> list[tuple[str, str, str, str]]:
    hints = get_type_hints(struct)
    rows = []
    for field in msgspec.structs.fields(struct):
        key = prefix + field.name
        rows.append((key, _type_name(hints[field.name]), _default(field), MEANINGS.get(key, "")))
        if hints[field.name] in (DockerSpecs, RunArgs):
            rows += _rows(hints[field.name], key + ".")
    return rows


def _type_name(hint: Any) -> str:
    text = str(hint) if not isinstance(hint, type) else hint.__name__
    return re.sub(r"\b(typing|builtins|orchestrator\.pipeline\.specs)\.", "", text)


def _default(field: msgspec.structs.FieldInfo) -> str:
    if field.required:
        return "required"
    value = field.default if field.default is not msgspec.NODEFAULT else field.default_factory()
    if isinstance(value, msgspec.Struct):
        return "see below"
    return f"`{value!r}`"


def reference_markdown() -> str:
    lines = [
        "# Spec keys",
        "",
        "Generated from `orchestrator/pipeline/specs.py` by"
        " `python -m orchestrator.pipeline.spec_reference`; do not edit by hand.",
        "A spec is a `SPECS_*` dict in a `.py` file or a table in a `.toml` file;"
        " every key but `repository` may be left out.",
        "",
        "| key | type | default | meaning |",
        "|---|---|---|---|",
    ]
    for key, kind, default, meaning in key_rows():
        cells = (f"`{key}`", f"`{kind}`", default, meaning)
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(reference_markdown(), end="")
