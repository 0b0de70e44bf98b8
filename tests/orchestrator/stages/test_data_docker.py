"""``fbench build-cases --backend docker`` through the data stage, on the feature project.

The masking, the checks and the leak scan run in containers of the spec's one
instance image; the exported cases are then checked in that image from the
outside (gold passes, the test patch alone fails), and so is each case's own
image, as SWE-bench would use it.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from orchestrator.environments.docker import DockerEnvironment
from orchestrator.environments.docker_engine import CASE_LABEL, LABEL
from orchestrator.grading.harness import image_name
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
    check_case_images(engine, cases)
    check_swebench_uses_the_images(engine, run, tmp_path)
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


def check_case_images(engine: Dockerd, cases: list[Path]) -> None:
    """Each case's image, under the name SWE-bench derives, holds the case repository at
    /testbed, with git, clean at base_commit."""
    with contextlib.closing(engine.client()) as client:
        for case in cases:
            info = instance(case)
            image = client.images.get(image_name(info["instance_id"]))
            assert image.labels[CASE_LABEL] == info["instance_id"]
            assert image.labels[LABEL] == info["environment"]["key"]
            script = "cd /testbed && git rev-parse HEAD && git status --porcelain | wc -l"
            head, dirty = in_image(client, image.id, script).split()
            assert (head, dirty) == (info["base_commit"], "0")


def in_image(
    client: Any, image: str, script: str, environment: dict[str, str] | None = None
) -> str:
    """``script``'s output in a throwaway container of ``image``, without network."""
    output = client.containers.run(
        image,
        ["/bin/bash", "-c", script],
        environment=environment or {},
        network_mode="none",
        remove=True,
        labels={LABEL: "test"},
    )
    return str(output.decode(errors="replace"))


def check_swebench_uses_the_images(engine: Dockerd, run: Path, tmp_path: Path) -> None:
    """SWE-bench 5 on the task repository export: its image builder finds every image
    built; in each, the gold patch then eval.sh resolves by its grading, no patch does not."""
    grading = pytest.importorskip("swebench.harness.grading")
    from swebench.harness.utils import make_test_spec
    from swebench.task.repo import load_task

    tasks = tmp_path / "tasks"
    command = ["export", "--cases", str(run), "--format", "swebench-task-repo", "--out", str(tasks)]
    result = CliRunner().invoke(cli, [*command, "--p2p", "all"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    swebench = Path(sys.executable).parent / "swebench"
    done = subprocess.run(
        [str(swebench), "images", "build", "-n", "swebench", str(tasks)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "DOCKER_HOST": engine.base_url},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "All images exist. Nothing left to build." in done.stdout
    with contextlib.closing(engine.client()) as client:
        for task in sorted(tasks.glob("tasks/*")):
            row = load_task(task)
            for patch in ("gold", "empty"):
                model_patch = (task / "gold.patch").read_text() if patch == "gold" else ""
                apply = 'git -C /testbed apply - <<< "$PATCH"; ' if model_patch else ""
                script = apply + 'bash -c "$EVAL" 2>&1; true'
                env = {"PATCH": model_patch, "EVAL": row["eval_script"]}
                log = tmp_path / f"{task.name}.{patch}.log"
                log.write_text(in_image(client, row["image"], script, env))
                prediction = {"instance_id": task.name, "model_patch": model_patch}
                prediction["model_name_or_path"] = "m"
                report = grading.get_eval_report(make_test_spec(row), prediction, str(log), False)
                assert report[task.name]["resolved"] is (patch == "gold"), log.read_text()
