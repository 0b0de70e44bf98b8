"""The optional ``mlflow`` sink, read back through MLflow's own client from its local store."""

from __future__ import annotations

import json
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner
from mlflow.tracking import MlflowClient

from orchestrator.cli import cli
from orchestrator.watch import Watcher

JOBS = """\
sinks: [mlflow]
refine_recipe_jobs:
  - type: refine_spec
    meta_name: refine
    specs: specs.toml
    figures: {SPECS_A: {tests: 30}, SPECS_B: {tests: 10}}
    rules: [{figure: tests, k: 0.5, when: above, key: max_f2p_num, set: 2}]
"""
SPECS = '[SPECS_A]\nrepository = "pypi:a==1"\n\n[SPECS_B]\nrepository = "pypi:b==1"\n'


@pytest.fixture(autouse=True)
def _local_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def _history(metadata: Path, key: str) -> list[float]:
    client = MlflowClient(tracking_uri=(metadata / "mlruns").as_uri())
    run_id = (metadata / "mlflow_run_id").read_text()
    return [metric.value for metric in client.get_metric_history(run_id, key)]


def test_a_resumed_run_continues_its_mlflow_run(tmp_path: Path) -> None:
    with closing(Watcher(tmp_path, "sandbox", ["mlflow"])) as watcher:
        watcher.watch("probe", {"seconds": 2.5})
        watcher.watch("probe", {"tests": 30}, spec="SPECS_A")
    first = (tmp_path / "metadata_outputs" / "mlflow_run_id").read_text()
    with closing(Watcher(tmp_path, "sandbox", ["mlflow"])) as watcher:  # --resume opens it again
        watcher.watch("probe", {"seconds": 1.0})
    metadata = tmp_path / "metadata_outputs"
    assert (metadata / "mlflow_run_id").read_text() == first
    assert _history(metadata, "probe/seconds") == [2.5, 1.0]
    assert _history(metadata, "probe/SPECS_A/tests") == [30.0]


def test_a_job_list_naming_the_sink_logs_each_job(tmp_path: Path) -> None:
    (tmp_path / "specs.toml").write_text(SPECS)
    (tmp_path / "jobs.yaml").write_text(JOBS)
    command = ["sandbox", "--config", str(tmp_path / "jobs.yaml"), "--output-dir", str(tmp_path)]
    result = CliRunner().invoke(cli, command)
    assert result.exit_code == 0, result.output
    run = Path(result.output.splitlines()[-1])
    metadata = run / "metadata_outputs"
    (entry,) = json.loads((metadata / "metadata.json").read_text())["context_infos"][
        "refine_recipe_jobs"
    ]
    assert _history(metadata, "refine/seconds") == [entry["seconds"]]
    assert (metadata / "metrics.jsonl").is_file()  # beside the always-on sinks
