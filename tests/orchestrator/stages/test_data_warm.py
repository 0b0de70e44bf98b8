"""Test runs forked from a warm worker give the cases that cold test runs give.

The feature project is built twice, each time from an empty cache: with warm
probes (the default) and with ``FBENCH_WARM_PROBES=0``. Every file of every
case must be byte-identical, every test file must have the same outcomes in the
runner and every candidate must end the same way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from orchestrator.pipeline import warm_probes
from tests.orchestrator.feature_project import make_feature_project

SPEC = "SPECS_GEOM"


def build(work: Path, out: str, cache: str = "", *debug: str) -> Path:
    """``fbench build-cases`` of the feature project into ``work/out``; the cache is
    ``work/cache`` (default ``work/out-cache``)."""
    repository = work / "geom"
    if not repository.exists():
        make_feature_project(repository)
    spec = {
        "repository": str(repository),
        "pip_packages": ["pytest"],
        "test_cmd": ["pytest", "-q", "-p", "no:cacheprovider"],
        "max_code_line_lower_bound": 30,
        "max_code_line_upper_bound": 40,
        "library_name": "geom",
    }
    (work / "specs.py").write_text(f"{SPEC} = {spec!r}\n")
    command = ["build-cases", "--config-path", str(work / "specs.py")]
    cache_dir = work / (cache or f"{out}-cache")
    command += ["--output-dir", str(work / out), "--cache-dir", str(cache_dir), *debug]
    result = CliRunner().invoke(cli, command, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return sorted((work / out).glob("[0-9]*/*"))[-1]


def case_files(run: Path) -> dict[str, bytes]:
    """Every file of the cases but git's index, a cache of the files' inode and times."""
    root = run / "cases"
    found = {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    return {name: data for name, data in found.items() if not name.endswith(".git/index")}


def endings(run: Path) -> dict[str, Any]:
    status = json.loads((run / "metadata_outputs" / "data_status.json").read_text())[SPEC]
    return {
        key: {k: v for k, v in entry.items() if k != "seconds"}
        for key, entry in status["files"].items()
    }


def runner_outcomes(run: Path) -> dict[str, Any]:
    status = json.loads((run / "metadata_outputs" / "files_status.json").read_text())[SPEC]
    return {path: (e.get("runner"), e.get("tests")) for path, e in status["files"].items()}


def probe_logs(run: Path) -> str:
    return "".join(p.read_text() for p in (run / "logs" / "f2p_validate").rglob("*.log"))


def test_warm_and_cold_probes_give_byte_identical_cases(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(warm_probes.SWITCH, "1")
    warm = build(tmp_path, "warm")
    warm_probes.close_all()
    monkeypatch.setenv(warm_probes.SWITCH, "0")
    cold = build(tmp_path, "cold")
    assert "$ warm-probe " in probe_logs(warm)  # each path really ran
    assert "$ warm-probe " in "".join(p.read_text() for p in warm.glob("logs/test_runner/*/*"))
    assert "$ warm-probe " not in probe_logs(cold)
    warm_cases = case_files(warm)
    assert any(name.endswith("patch.diff") for name in warm_cases)  # there are cases
    assert warm_cases == case_files(cold)
    assert endings(warm) == endings(cold)
    assert runner_outcomes(warm) == runner_outcomes(cold)
