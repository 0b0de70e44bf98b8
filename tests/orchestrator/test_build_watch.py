"""context_infos and the watcher's metrics survive a SIGKILL; ``fbench metrics`` reads runs.

The spec chooses the ``venv`` environment manager, so this run also shows the
spec key taking effect in a real build.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from click.testing import CliRunner

from orchestrator.cli import cli
from tests.orchestrator.pipeline.test_resume import (
    run_dir,
    start,
    wait_for_no_process_using,
    wait_until,
)
from tests.support.gitrepos import commit_files

SLOW_TEST = "import time\n\ndef test_slow():\n    time.sleep(0.4)\n"


def slow_repository(path: Path) -> Path:
    """Five slow passing test files and one failing one."""
    files = {f"tests/test_slow_{n}.py": SLOW_TEST for n in range(5)}
    files["tests/test_broken.py"] = "def test_broken():\n    assert 1 == 2\n"
    files["pyproject.toml"] = '[project]\nname = "slow"\nversion = "0"\n'
    commit_files(path, files, "slow tests", when=1_700_000_000)
    return path


def infos(run: Path) -> list[dict[str, object]]:
    metadata = json.loads((run / "metadata_outputs" / "metadata.json").read_text())
    jobs: list[dict[str, object]] = metadata["context_infos"]["build_cases"]
    return jobs


def runner_started(out: Path) -> bool:
    return len(list(out.glob("*/*/metadata_outputs/journal/results/runner/*/*.json"))) >= 1


def test_context_infos_and_metrics_survive_a_kill_and_answer_across_runs(tmp_path: Path) -> None:
    repository = slow_repository(tmp_path / "slow")
    specs = tmp_path / "specs.py"
    spec = {"repository": str(repository), "pip_packages": ["pytest"], "env_manager": "venv"}
    specs.write_text(f"SPECS_SLOW = {spec!r}\n")
    out, cache = tmp_path / "out", tmp_path / "cache"
    process = start(specs, out, cache)
    wait_until(lambda: runner_started(out), process, limit=900)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    wait_for_no_process_using(cache)
    run = run_dir(out)
    # Every stage that ended before the kill is there, in order (the runner may have
    # stored its last result just before the kill, or not).
    done = [job["meta_name"] for job in infos(run)]
    assert done in (["repo", "image", "scanner"], ["repo", "image", "scanner", "runner"])
    (made,) = (cache / "envs").glob("*/venv/pyvenv.cfg")
    assert "uv =" not in made.read_text()  # made by the standard library's venv, as the spec asks
    logged = (run / "metadata_outputs" / "metrics.jsonl").read_text().splitlines()
    assert {json.loads(line)["stage"] for line in logged} == set(done)

    resumed = start(specs, out, cache, "--resume", str(run))
    assert resumed.wait(timeout=900) == 0, (tmp_path / "stderr.txt").read_text()
    runner = infos(run)[-1]
    assert [job["meta_name"] for job in infos(run)] == ["repo", "image", "scanner", "runner"]
    assert (runner["items"], runner["ok"], runner["failed"]) == (6, 5, 1)

    again = start(specs, tmp_path / "out2", cache)
    assert again.wait(timeout=900) == 0, (tmp_path / "stderr.txt").read_text()
    second = run_dir(tmp_path / "out2")
    answer = CliRunner().invoke(
        cli, ["metrics", str(run), str(second), "--query", "pass_rate", "--json"]
    )
    assert answer.exit_code == 0, answer.output
    rows = [json.loads(line) for line in answer.output.splitlines()]
    assert [
        (r["run"], r["stage"], r["spec"], r["value"]) for r in rows if r["stage"] == "runner"
    ] == [
        (str(run), "runner", "*", 5 / 6),
        (str(second), "runner", "*", 5 / 6),
    ]
    cached = CliRunner().invoke(cli, ["metrics", str(second), "--query", "cached", "--json"])
    assert {
        json.loads(line)["stage"]: json.loads(line)["value"] for line in cached.output.splitlines()
    }["runner"] == 6
    unknown = CliRunner().invoke(cli, ["metrics", str(run), "--query", "speed"])
    assert unknown.exit_code == 2
    assert unknown.output.startswith(
        "fbench: error: --query speed: no such metric in these runs; known: cached,"
    )
