"""Components by ``type``: built-ins come from entry points, and a wrong type is one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from orchestrator.environments import make_environment
from orchestrator.environments.uv import UvEnvironment
from orchestrator.errors import SpecError, UsageError
from orchestrator.pipeline.registry import registry
from orchestrator.pipeline.specs import RepoSpec, load_specs
from orchestrator.stages import STAGE_NAMES
from orchestrator.stages.registered import build_stages
from tests.support.contexts import scratch_context


def test_an_unknown_type_names_the_kind_and_the_known_types() -> None:
    with pytest.raises(UsageError) as raised:
        registry("environments").get("podman")
    assert str(raised.value) == (
        "unknown environments type 'podman'; known types: conda, docker, local, uv, venv"
    )


def test_the_spec_chooses_the_backend_and_backend_overrides_it(tmp_path: Path) -> None:
    """``--backend local`` (the default) defers to ``env_manager``; any other value wins."""
    spec = RepoSpec(repository="x", env_manager="venv")
    assert make_environment(scratch_context(tmp_path, "local"), "k", spec).backend == "venv"
    assert isinstance(make_environment(scratch_context(tmp_path, "uv"), "k", spec), UvEnvironment)
    with pytest.raises(UsageError, match="unknown environments type 'pip'"):
        make_environment(scratch_context(tmp_path, "local"), "k", RepoSpec("x", env_manager="pip"))


def test_build_cases_runs_the_registered_stages_in_order(tmp_path: Path) -> None:
    stages = build_stages(registry("stages"), tmp_path)
    assert tuple(stage.name for stage in stages) == STAGE_NAMES


def test_fbench_plugins_lists_every_kind_with_its_origin() -> None:
    result = CliRunner().invoke(cli, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    found = {(row["kind"], row["type"]) for row in rows}
    assert {("environments", "venv"), ("stages", "p2p"), ("exporters", "swebench-jsonl")} <= found
    assert {("top_selectors", "offline"), ("top_selectors", "llm")} <= found
    assert {("hooks", "probe_repo"), ("hooks", "refine_spec"), ("hooks", "export")} <= found
    assert {("statement_writers", "template"), ("graders", "strict")} <= found
    assert {("pair_checks", name) for name in ("pep8", "docstring", "alignment")} <= found
    assert {row["origin"].split()[0] for row in rows} == {"pytest-featurebench"}


def test_export_rejects_an_unknown_format_in_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["export", "--cases", str(tmp_path), "--format", "csv", "--out", "x"]
    )
    assert result.exit_code == 2
    assert (
        "'csv' is not one of 'hf-dataset', 'parquet', 'swebench-jsonl', 'swebench-task-repo'"
        in result.output
    )


def test_a_spec_naming_an_unknown_env_manager_is_refused_up_front(tmp_path: Path) -> None:
    specs = tmp_path / "specs.toml"
    specs.write_text('[S]\nrepository = "a/b"\nenv_manager = "pip"\n')
    with pytest.raises(SpecError) as raised:
        load_specs(specs)
    assert str(raised.value) == (
        f"{specs}: S.env_manager: expected one of conda, docker, local, uv, venv, found 'pip'"
    )


@pytest.mark.parametrize(
    ("key", "kind"), [("grader", "graders"), ("statement_writer", "statement_writers")]
)
def test_a_spec_naming_an_unknown_grader_or_writer_is_refused_up_front(
    tmp_path: Path, key: str, kind: str
) -> None:
    specs = tmp_path / "specs.toml"
    specs.write_text(f'[S]\nrepository = "a/b"\n{key} = "lenient"\n')
    with pytest.raises(SpecError) as raised:
        load_specs(specs)
    known = ", ".join(registry(kind).types())
    assert str(raised.value) == f"{specs}: S.{key}: expected one of {known}, found 'lenient'"
