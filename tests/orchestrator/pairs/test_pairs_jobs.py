"""build_pairs and evaluate_pairs as jobs of ``fbench sandbox``, on the textkit project."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from orchestrator.cli import cli
from orchestrator.pairs.run import STAGES
from tests.orchestrator.pairs.text_project import SEEDS, Project, jsonl

JOBS = """\
execution_jobs:
  - {{type: build_pairs, meta_name: pairs, specs: {specs}}}
evaluation_jobs:
  - {{type: evaluate_pairs, meta_name: quality, run: "${{pairs.run_dir}}"}}
"""


def test_pairs_are_built_and_their_quality_summed_up(textkit: Project, tmp_path: Path) -> None:
    (tmp_path / "jobs.yaml").write_text(JOBS.format(specs=json.dumps(str(textkit.specs))))
    command = ["sandbox", "--config", str(tmp_path / "jobs.yaml"), "--output-dir", str(tmp_path)]
    command += ["--cache-dir", str(textkit.cache), "--jobs", "2"]
    result = CliRunner().invoke(cli, command, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    run = Path(result.output.splitlines()[-1])
    infos = json.loads((run / "metadata_outputs" / "metadata.json").read_text())["context_infos"]
    (pairs,) = infos["execution_jobs"]
    rows = jsonl(Path(pairs["run_dir"]) / "final_dataset" / "instruction_dataset.jsonl")
    assert pairs["pairs"] == len(rows) == len(SEEDS)
    (quality,) = infos["evaluation_jobs"]
    complexity = [row["metrics"]["complexity"] for row in rows]
    assert quality["quality"]["complexity"] == sum(complexity) / len(complexity)
    assert set(quality["quality"]) == {"pep8", "docstring", "type_hints", "complexity"}
    assert quality["funnel"]["validated"] == len(rows)
    _assert_stages_recorded(Path(pairs["run_dir"]))


def _assert_stages_recorded(run: Path) -> None:
    """build-pairs fills its own context_infos and metrics, one entry per stage."""
    metadata = json.loads((run / "metadata_outputs" / "metadata.json").read_text())
    stages = [entry["meta_name"] for entry in metadata["context_infos"]["build_pairs"]]
    assert stages == list(STAGES)
    result = CliRunner().invoke(cli, ["metrics", str(run), "--query", "ok", "--json"])
    assert {json.loads(line)["stage"] for line in result.output.splitlines()} == set(STAGES)
