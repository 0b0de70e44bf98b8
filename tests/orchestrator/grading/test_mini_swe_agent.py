"""mini-swe-agent, for real, on an exported case; its preds.json resolves through fbench eval.

The model is the loopback OpenAI-compatible server replaying a scripted
solution (apply the gold patch, write patch.txt, submit). mini-swe-agent runs
its own SWE-bench batch command on the parquet export, with its local
environment in a checkout of the case repository; the predictions file it
writes goes to ``fbench eval`` unchanged.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from tests.orchestrator.grading.test_eval import build_feature_run, case_dir, shared_cache
from tests.support.caseutil import instance
from tests.support.llm_server import MODEL, Reply, serve

pytest.importorskip("minisweagent")


def command(text: str) -> Reply:
    """One reply of the model: its reasoning, then one bash block in mini-swe-agent's syntax."""
    return Reply(content=f"THOUGHT: next step.\n\n```mswea_bash_command\n{text}\n```\n")


def config(tmp_path: Path, url: str, testbed: Path, bundle: Path) -> Path:
    """mini-swe-agent's overrides: the loopback model, the local environment in ``testbed``."""
    override = {
        "model": {
            "model_class": "litellm_textbased",
            "model_name": f"openai/{MODEL}",
            "model_kwargs": {"api_base": url, "api_key": "unused", "temperature": 0.0},
            "cost_tracking": "ignore_errors",
        },
        "environment": {"environment_class": "local", "cwd": str(testbed)},
        "run": {"env_startup_command": f"git clone -q {bundle} ."},
    }
    path = tmp_path / "loopback.yaml"
    path.write_text(json.dumps(override))  # JSON is YAML
    return path


def test_mini_swe_agent_preds_json_resolves(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The agent's own batch command on the parquet export; fbench eval resolves its patch."""
    cache = shared_cache(tmp_path_factory)
    run = build_feature_run(tmp_path / "build", cache)
    case = case_dir(run, "test_textutil", 1)
    iid = instance(case)["instance_id"]
    export = ["export", "--cases", str(run), "--format", "parquet", "--p2p", "all"]
    assert CliRunner().invoke(cli, [*export, "--out", str(tmp_path / "data")]).exit_code == 0
    subprocess.run(
        ["git", "bundle", "create", str(tmp_path / "repo.bundle"), "--all"],
        cwd=case / "repo",
        check=True,
        capture_output=True,
    )
    testbed = tmp_path / "testbed"
    testbed.mkdir()
    gold = (case / "patch.diff").read_text()
    with serve() as server:
        server.script.extend(
            [
                command(f"git apply <<'EOF'\n{gold}EOF"),
                command("git diff > patch.txt && head -3 patch.txt"),
                command("echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT && cat patch.txt"),
            ]
        )
        mini = Path(sys.executable).parent / "mini-extra"
        argv = [str(mini), "swebench", "--subset", str(tmp_path / "data"), "--split", "test"]
        argv += ["--filter", f"^{iid}$", "-o", str(tmp_path / "agent")]
        argv += [
            "-c",
            "swebench_backticks.yaml",
            "-c",
            str(config(tmp_path, server.url, testbed, tmp_path / "repo.bundle")),
        ]
        env = {
            **os.environ,
            "HF_DATASETS_OFFLINE": "1",
            "MSWEA_CONFIGURED": "true",
            "HOME": str(tmp_path),
        }
        done = subprocess.run(
            argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert len(server.completions()) == 3
    preds = json.loads((tmp_path / "agent" / "preds.json").read_text())
    assert "diff --git a/geom/textutil.py" in preds[iid]["model_patch"]
    assert "patch.txt" not in preds[iid]["model_patch"]
    graded = ["eval", "--cases", str(run), "--predictions", str(tmp_path / "agent" / "preds.json")]
    graded += ["--cache-dir", str(cache), "--report", str(tmp_path / "reports")]
    result = CliRunner().invoke(cli, graded, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    (report,) = (tmp_path / "reports").glob("*/report.json")
    data = json.loads(report.read_text())
    assert data["resolved_ids"] == [iid], data["instances"]
