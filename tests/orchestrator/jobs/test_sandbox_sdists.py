"""``fbench sandbox`` end to end on two real PyPI sdists (cachetools 5.5.2, toolz 1.0.0).

probe -> refine -> build_cases -> evaluate_cases. The run is SIGKILLed once
the probe's entry is in ``context_infos`` and continued with ``--resume``: the
probe is not run again, the refined spec differs exactly as its rule says,
gold resolves every case and the empty patch none, the export has a row per
case, and ``fbench metrics``
answers one query across the sandbox run and the build run it made.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from orchestrator.pipeline.registry import registry
from orchestrator.pipeline.specs import load_specs

pytestmark = pytest.mark.network

SPECS = """\
[SPECS_CACHETOOLS]
repository = "pypi:cachetools==5.5.2"
pip_packages = ["pytest"]
min_test_num = 3
max_f2p_num = 3
timeout_run = 300

[SPECS_TOOLZ]
repository = "pypi:toolz==1.0.0"
pip_packages = ["pytest"]
min_test_num = 3
max_f2p_num = 3
timeout_run = 300
"""

# cachetools has more tests than toolz, so it is the one above the mean.
JOBS = """\
probe_jobs:
  - {type: probe_repo, meta_name: probe, specs: specs.toml}
refine_recipe_jobs:
  - type: refine_spec
    meta_name: refine
    specs: ${probe.specs}
    figures: ${probe.figures}
    rules:
      - {figure: tests, k: 0.5, when: above, key: max_f2p_num, set: 1}
      - {figure: tests, k: 0.5, when: below, key: max_code_line_upper_bound, scale: 2}
execution_jobs:
  - {type: build_cases, meta_name: build, specs: "${refine.specs}"}
evaluation_jobs:
  - {type: evaluate_cases, meta_name: grade, cases: "${build.run_dir}"}
  - {type: export, meta_name: rows, cases: "${build.run_dir}", format: swebench-jsonl}
"""
FBENCH = [sys.executable, "-c", "from orchestrator.cli import main; main()"]


def test_job_list_on_two_sdists_survives_a_sigkill(tmp_path: Path) -> None:
    (tmp_path / "specs.toml").write_text(SPECS)
    (tmp_path / "jobs.yaml").write_text(JOBS)
    common = ["--output-dir", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache")]
    run = _killed_after_probe(tmp_path, common)
    probe = _infos(run)["probe_jobs"][0]
    _assert_complete(run)
    result = CliRunner().invoke(cli, ["sandbox", "--resume", str(run), *common[2:]])
    assert result.exit_code == 0, result.output
    assert "probe: finished in an earlier attempt" in result.output
    infos = _infos(run)
    _assert_complete(run)
    assert infos["probe_jobs"] == [probe]  # not run again
    assert set(probe["figures"]) == {"SPECS_CACHETOOLS", "SPECS_TOOLZ"}
    assert probe["figures"]["SPECS_CACHETOOLS"]["tests"] > probe["figures"]["SPECS_TOOLZ"]["tests"]
    _assert_refined(tmp_path, Path(infos["refine_recipe_jobs"][0]["specs"]))
    build = infos["execution_jobs"][0]
    assert build["cases"] > 0
    assert build["figures"]["SPECS_CACHETOOLS"]["f2p_candidates"] <= 1  # the refined bound
    models = infos["evaluation_jobs"][0]["models"]
    assert models["gold"]["resolved_rate"] == 1.0
    assert models["empty"]["resolved_rate"] == 0.0
    rows = infos["evaluation_jobs"][1]
    assert rows["rows"] == build["cases"]
    assert len(Path(rows["out"]).read_text().splitlines()) == build["cases"]
    assert (run / "logs" / "fbench.log").read_text().count("rows (export) ...") == 1
    _assert_metrics_across(run, Path(build["run_dir"]))


def _killed_after_probe(tmp_path: Path, common: list[str]) -> Path:
    command = [*FBENCH, "sandbox", "--config", str(tmp_path / "jobs.yaml"), *common]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 1500
    try:
        while time.monotonic() < deadline and process.poll() is None:
            found = list((tmp_path / "out").glob("[0-9]*/*/metadata_outputs/metadata.json"))
            if found and "probe_jobs" in json.loads(found[0].read_text())["context_infos"]:
                os.kill(process.pid, signal.SIGKILL)
                break
            time.sleep(0.2)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == -signal.SIGKILL, "the run ended before the probe was recorded"
    (run,) = (tmp_path / "out").glob("[0-9]*/*")
    return run


def _infos(run: Path) -> dict[str, Any]:
    metadata = json.loads((run / "metadata_outputs" / "metadata.json").read_text())
    infos: dict[str, Any] = metadata["context_infos"]
    return infos


def _assert_complete(run: Path) -> None:
    """Every recorded job has every output its hook declares."""
    for entries in _infos(run).values():
        for entry in entries:
            outputs = registry("hooks").get(entry["type"]).outputs
            assert set(outputs) <= set(entry), entry["meta_name"]


def _assert_refined(tmp_path: Path, refined: Path) -> None:
    before = {spec.name: spec.settings for spec in load_specs(tmp_path / "specs.toml")}
    after = {spec.name: spec.settings for spec in load_specs(refined)}
    assert after["SPECS_CACHETOOLS"].max_f2p_num == 1
    assert after["SPECS_TOOLZ"].max_code_line_upper_bound == 1000
    after["SPECS_CACHETOOLS"].max_f2p_num = 3
    after["SPECS_TOOLZ"].max_code_line_upper_bound = 500
    assert after == before  # nothing else changed


def _assert_metrics_across(run: Path, build_run: Path) -> None:
    command = ["metrics", str(run), str(build_run), "--query", "seconds", "--json"]
    result = CliRunner().invoke(cli, command)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    by_run = {(row["run"], row["stage"]) for row in rows}
    assert {(str(run), name) for name in ("refine", "build", "grade")} <= by_run
    assert (str(build_run), "data") in by_run
