"""``fbench metrics`` on what is not a run, and the watcher's sinks by type."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from orchestrator.errors import UsageError
from orchestrator.watch import Watcher


def test_a_directory_without_metrics_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["metrics", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output == (
        f"fbench: error: {tmp_path}: no metadata_outputs/metrics.sqlite;"
        " give a run directory of build-cases\n"
    )


def test_the_watcher_writes_every_event_to_both_always_on_sinks(tmp_path: Path) -> None:
    watcher = Watcher(tmp_path, "build_cases")
    watcher.watch("scanner", {"seconds": 1.5, "items": 3})
    watcher.watch("scanner", {"stopped": True}, spec="SPECS_A")
    watcher.close()
    lines = (tmp_path / "metadata_outputs" / "metrics.jsonl").read_text().splitlines()
    assert [(e["spec"], e["name"], e["value"]) for e in map(json.loads, lines)] == [
        ("*", "seconds", 1.5),
        ("*", "items", 3.0),
        ("SPECS_A", "stopped", 1.0),
    ]
    result = CliRunner().invoke(cli, ["metrics", str(tmp_path), "--query", "stopped", "--json"])
    assert json.loads(result.output)["spec"] == "SPECS_A"


def test_an_unknown_sink_names_the_known_ones(tmp_path: Path) -> None:
    known = "jsonl, mlflow, sqlite"
    with pytest.raises(UsageError, match=f"unknown sinks type 'wandb'; known types: {known}"):
        Watcher(tmp_path, "build_cases", sinks=["wandb"])
