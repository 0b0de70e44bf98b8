"""A job list is checked whole before anything runs: each mistake is one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from orchestrator.jobs.config import load_job_list, resolve

GOOD = """\
probe_jobs:
  - {type: probe_repo, meta_name: probe, specs: specs.toml}
refine_recipe_jobs:
  - type: refine_spec
    meta_name: refine
    specs: ${probe.specs}
    figures: ${probe.figures}
    rules: [{figure: tests, key: max_f2p_num, k: 0.5, set: 2}]
execution_jobs:
  - {type: build_cases, meta_name: build, specs: "${refine.specs}"}
evaluation_jobs:
  - {type: evaluate_cases, meta_name: gold, cases: "${build.run_dir}"}
  - {type: probe_repo, meta_name: again, specs: "${refine.specs}"}
"""


def test_the_four_lists_run_in_order_and_a_hook_may_repeat(tmp_path: Path) -> None:
    path = tmp_path / "jobs.yaml"
    path.write_text(GOOD)
    jobs = load_job_list(path).jobs
    assert [(j.pipeline, j.type) for j in jobs] == [
        ("probe_jobs", "probe_repo"),
        ("refine_recipe_jobs", "refine_spec"),
        ("execution_jobs", "build_cases"),
        ("evaluation_jobs", "evaluate_cases"),
        ("evaluation_jobs", "probe_repo"),
    ]


def test_toml_reads_the_same_as_yaml(tmp_path: Path) -> None:
    path = tmp_path / "jobs.toml"
    path.write_text(
        '[[probe_jobs]]\ntype = "probe_repo"\nmeta_name = "probe"\nspecs = "s.toml"\n'
        '[[execution_jobs]]\ntype = "build_cases"\nmeta_name = "b"\nspecs = "${probe.specs}"\n'
    )
    jobs = load_job_list(path).jobs
    assert [j.meta_name for j in jobs] == ["probe", "b"]


def test_a_reference_is_the_value_whole_or_text_inside_a_string() -> None:
    outputs = {"probe": {"figures": {"A": {"tests": 3}}, "run_dir": "/r"}}
    assert resolve("${probe.figures}", outputs) == {"A": {"tests": 3}}
    assert resolve(["at ${probe.run_dir}/x"], outputs) == ["at /r/x"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("meta_name: probe,", "meta_name: 'a b',"), "probe_jobs[0]: meta_name: use letters"),
        (("type: probe_repo,", "type: probe_it,"), "probe_jobs[0] (probe): type: unknown hook"),
        (
            ("specs: specs.toml", "spec: specs.toml"),
            "probe_jobs[0] (probe): spec: unknown argument",
        ),
        (("specs: specs.toml", "end: dynamic"), "probe_jobs[0] (probe): specs: required"),
        (("meta_name: gold", "meta_name: build"), "meta_name: 'build' is used twice"),
        (("${build.run_dir}", "${later.run_dir}"), "cases: ${later.run_dir} names no earlier job"),
        (("${build.run_dir}", "${build.cases_dir}"), "that job has no output 'cases_dir'"),
        (("key: max_f2p_num", "key: max_f2p"), "rules: key 'max_f2p' is not a spec key"),
        (("set: 2}", "set: 2, add: 1}"), "give exactly one of scale, add or set"),
        (("k: 0.5", "k: lots"), "refine_recipe_jobs[0] (refine): rules: Expected `float`"),
        (("probe_jobs:", "probes:"), "probes: unknown key; the keys are probe_jobs"),
        (("rules: [", "rules: [[["), "not valid YAML"),
    ],
)
def test_each_mistake_is_one_line_naming_file_job_and_key(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    path = tmp_path / "jobs.yaml"
    path.write_text(GOOD.replace(*change))
    result = CliRunner().invoke(
        cli, ["sandbox", "--config", str(path), "--output-dir", str(tmp_path / "out")]
    )
    assert result.exit_code == 2, result.output
    (line,) = result.output.splitlines()
    assert line.startswith(f"fbench: error: {path}: ")
    assert message in line
    assert not (tmp_path / "out").exists()  # nothing made before the list is known good


def test_resume_of_a_directory_that_is_no_sandbox_run(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["sandbox", "--resume", str(tmp_path)])
    assert result.exit_code == 2
    assert "no metadata_outputs/job_list.json" in result.output


def test_config_and_resume_together_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "jobs.yaml"
    path.write_text(GOOD)
    result = CliRunner().invoke(cli, ["sandbox", "--config", str(path), "--resume", str(tmp_path)])
    assert result.exit_code == 2
    assert "--config and --resume: give one" in result.output
