"""A job that fails keeps the entries before it; ``--resume`` runs only what is not finished."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from orchestrator.cli import cli

SPECS = '[SPECS_A]\nrepository = "pypi:a==1"\n\n[SPECS_B]\nrepository = "pypi:b==1"\n'
JOBS = """\
refine_recipe_jobs:
  - type: refine_spec
    meta_name: first
    specs: specs.toml
    figures: {SPECS_A: {tests: 30}, SPECS_B: {tests: 10}}
    rules: [{figure: tests, k: 0.5, when: above, key: max_f2p_num, set: 2}]
  - type: refine_spec
    meta_name: second
    specs: later.toml
    figures: {SPECS_A: {tests: 30}, SPECS_B: {tests: 10}}
    rules: [{figure: tests, k: 0.5, when: below, key: min_test_num, add: 4}]
"""


def _infos(run: Path) -> dict[str, list[dict[str, object]]]:
    metadata = json.loads((run / "metadata_outputs" / "metadata.json").read_text())
    infos: dict[str, list[dict[str, object]]] = metadata["context_infos"]
    return infos


def test_a_failed_job_is_run_again_by_resume_and_a_finished_one_is_not(tmp_path: Path) -> None:
    (tmp_path / "specs.toml").write_text(SPECS)
    (tmp_path / "jobs.yaml").write_text(JOBS)
    command = ["sandbox", "--config", str(tmp_path / "jobs.yaml"), "--output-dir", str(tmp_path)]
    failed = CliRunner().invoke(cli, command)
    assert failed.exit_code == 2, failed.output  # the specs file is missing: bad input
    (run_line, error) = failed.output.splitlines()[-2:]
    assert error.startswith(
        f"fbench: error: {tmp_path / 'jobs.yaml'}: refine_recipe_jobs[1] (second): "
    )
    assert "later.toml" in error
    run = Path(run_line)
    (first,) = _infos(run)["refine_recipe_jobs"]
    assert first["meta_name"] == "first"
    (tmp_path / "later.toml").write_text(SPECS)
    resumed = CliRunner().invoke(cli, ["sandbox", "--resume", str(run)])
    assert resumed.exit_code == 0, resumed.output
    assert "first: finished in an earlier attempt" in resumed.output
    entries = _infos(run)["refine_recipe_jobs"]
    assert entries[0] == first  # the same entry: not run again
    assert [e["meta_name"] for e in entries] == ["first", "second"]
    assert entries[1]["changes"][0]["spec"] == "SPECS_B"  # type: ignore[index]
    report = (run / "report.md").read_text()
    assert "| first | refine_spec |" in report
    assert "| second | refine_spec |" in report
    again = CliRunner().invoke(cli, ["sandbox", "--resume", str(run)])
    assert again.exit_code == 0
    assert _infos(run)["refine_recipe_jobs"] == entries  # nothing left to run
