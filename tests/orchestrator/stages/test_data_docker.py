"""``fbench build-cases --backend docker`` through the data stage, on the feature project.

The masking, the checks and the leak scan run in containers of the spec's one
instance image; the exported cases are then checked in that image from the
outside: gold passes, the test patch alone fails.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from orchestrator.environments.docker import DockerEnvironment
from orchestrator.pipeline.specs import RepoSpec
from tests.orchestrator.feature_project import make_feature_project
from tests.support.caseutil import checked_out, instance
from tests.support.contexts import scratch_context
from tests.support.dockerd import Dockerd

TEST_CMD = ["pytest", "-q", "-p", "no:cacheprovider"]


@pytest.mark.network
def test_docker_backend_exports_cases_that_hold_in_their_image(
    engine: Dockerd, tmp_path: Path
) -> None:
    make_feature_project(tmp_path / "geom")
    spec = {
        "repository": str(tmp_path / "geom"),
        "pip_packages": ["pytest"],
        "test_cmd": TEST_CMD,
        "max_code_line_lower_bound": 30,
        "max_code_line_upper_bound": 40,
    }
    (tmp_path / "specs.py").write_text(f"SPECS_GEOM = {spec!r}\n")
    command = ["build-cases", "--backend", "docker", "--config-path", str(tmp_path / "specs.py")]
    command += ["--output-dir", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache")]
    result = CliRunner().invoke(cli, command, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    (run,) = (tmp_path / "out").glob("[0-9]*/*")
    status = json.loads((run / "metadata_outputs" / "data_status.json").read_text())["SPECS_GEOM"]
    assert status["files"]["tests/test_textutil.py"]["status"] == "valid", status
    assert status["files"]["tests/test_polygon.py"]["status"] == "valid", status
    cases = sorted(run.glob("cases/*/*.lv1"))
    ctx = scratch_context(tmp_path / "check", "docker")
    for case in cases:
        info = instance(case)
        assert info["environment"]["backend"] == "docker"
        assert info["environment"]["image"] == f"featurebench/instance:{info['environment']['key']}"
        environment = DockerEnvironment(
            info["environment"]["key"], RepoSpec(repository="geom", test_cmd=TEST_CMD), ctx
        )
        assert environment.exists()
        gold = checked_out(case, tmp_path / f"{case.name}.gold", "patch.diff", "test_patch.diff")
        tests = [*info["FAIL_TO_PASS"], *info["PASS_TO_PASS"]]
        assert environment.run([*TEST_CMD, *tests], repo=gold, timeout=300).returncode == 0
        bare = checked_out(case, tmp_path / f"{case.name}.bare", "test_patch.diff")
        failed = environment.run([*TEST_CMD, *info["FAIL_TO_PASS"]], repo=bare, timeout=300)
        assert failed.returncode != 0, failed.output
    # fbench eval grades in the same images: gold resolves all, empty none.
    for predictions, resolved in (("gold", status["cases"]), ("empty", 0)):
        report_dir = tmp_path / f"eval-{predictions}"
        command = ["eval", "--cases", str(run), "--predictions", predictions, "--jobs", "2"]
        command += ["--cache-dir", str(tmp_path / "cache"), "--report", str(report_dir)]
        result = CliRunner().invoke(cli, command, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        report = json.loads((report_dir / predictions / "report.json").read_text())
        assert report["total_instances"] == status["cases"]
        assert report["resolved_instances"] == resolved, report["instances"]
