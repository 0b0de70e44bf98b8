"""``fbench sandbox --executor ray``: the job list's build runs its specs and its evaluate
job its cases as Ray tasks, with the cases and grades of ``--executor local``."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from orchestrator.cli import cli
from tests.orchestrator.executors.runs import case_bytes, feature_specs, no_stage_cache, write_specs
from tests.support.raycluster import RayCluster

JOBS = """\
execution_jobs:
  - type: build_cases
    meta_name: build
    specs: specs.py
    debug: "DEBUG"
evaluation_jobs:
  - type: evaluate_cases
    meta_name: grade
    cases: ${build.run_dir}
    predictions: [gold, empty]
"""

NO_STAGE_CACHE = no_stage_cache()


def sandbox(work: Path, name: str, debug: str, *args: str) -> Path:
    """``fbench sandbox`` of the job list, its build job with ``debug``; its run directory."""
    out, jobs = work / name, work / f"{name}.yaml"
    jobs.write_text(JOBS.replace("DEBUG", debug))
    command = ["sandbox", "--config", str(jobs), "--output-dir", str(out)]
    command += ["--cache-dir", str(work / "cache"), "--jobs", "2", *args]
    result = CliRunner().invoke(cli, command, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    (run,) = out.glob("[0-9]*/*")
    return run


def entries(run: Path) -> dict[str, dict[str, Any]]:
    infos = json.loads((run / "metadata_outputs" / "metadata.json").read_text())["context_infos"]
    return {entry["meta_name"]: entry for found in infos.values() for entry in found}


def test_sandbox_on_ray_builds_and_grades_as_local_does(
    ray_cluster: RayCluster, tmp_path: Path
) -> None:
    """One cache: the Ray run's build, with every stage's cache off, makes the cases again
    (the environment is cached apart from the stages); grading is never cached."""
    write_specs(tmp_path / "specs.py", feature_specs(tmp_path, ("geom",)))
    local = entries(sandbox(tmp_path, "local", ""))
    address = ("--executor", "ray", "--ray-address", ray_cluster.address)
    ray = entries(sandbox(tmp_path, "ray", NO_STAGE_CACHE, *address))
    built = Path(ray["build"]["run_dir"])
    assert case_bytes(built) == case_bytes(Path(local["build"]["run_dir"]))
    assert re.search(
        r"SPECS_GEOM: ran on Ray node \w+", (built / "logs" / "fbench.log").read_text()
    )
    assert ray["build"]["figures"] == local["build"]["figures"]
    assert ray["grade"]["models"] == local["grade"]["models"]
    assert ray["grade"]["models"]["gold"]["resolved_rate"] == 1.0
    assert ray["grade"]["models"]["empty"]["resolved_rate"] == 0.0
    logs = Path(ray["grade"]["report_dir"])
    assert list(logs.glob("gold/logs/*/*")), "no eval logs came back from the Ray tasks"
