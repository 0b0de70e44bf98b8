"""``build-cases`` on a project whose pytest.toml loads an absent plugin and its option.

pytest refuses the collection twice: first for ``-p fb_absent_plugin`` (an import
error), then, run again without it, for ``--reruns 2``. Both are dropped; each refused
collection's log is kept beside the last one's, and the summary and the report name them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.orchestrator.stages.test_scanner_addopts import FILES
from tests.support.caseutil import instance
from tests.support.cli_runs import build_project

SPEC = "SPECS_PLUGINS"
CONFIG = '[pytest]\naddopts = ["-p", "fb_absent_plugin", "--reruns", "2", "--doctest-modules"]\n'
LOGS = [f"logs/test_scanner/{SPEC}.refused1.log", f"logs/test_scanner/{SPEC}.refused2.log"]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("plugins")
    files = {**{k: v for k, v in FILES.items() if k != "tox.ini"}, "pytest.toml": CONFIG}
    return build_project(work, SPEC, files)


def test_the_plugin_and_its_option_are_dropped_and_recorded(run: Path) -> None:
    status: dict[str, Any] = json.loads(
        (run / "metadata_outputs" / "files_status.json").read_text()
    )
    assert status[SPEC]["addopts"] == {
        "config": "pytest.toml",
        "kept": ["--doctest-modules"],
        "dropped": ["-p", "fb_absent_plugin", "--reruns", "2"],
        "refused_logs": LOGS,
    }
    assert status[SPEC]["files"]["geo/text.py"]["doctest_module"] is True
    for case in run.glob("cases/*/*.lv1"):
        assert instance(case)["repo_settings"]["test_cmd"][-2:] == [
            "-o",
            "addopts=--doctest-modules",
        ]


def test_every_collection_keeps_its_log(run: Path) -> None:
    first, second = ((run / log).read_text() for log in LOGS)
    assert 'Error importing plugin "fb_absent_plugin"' in first
    assert "unrecognized arguments: --reruns" in second
    last = (run / "logs" / "test_scanner" / f"{SPEC}.log").read_text()
    assert "tests/test_shapes.py" in last
    assert "error" not in last.lower()


def test_the_summary_and_the_report_name_the_drops_and_the_logs(run: Path) -> None:
    said = "pytest.toml addopts: dropped -p fb_absent_plugin --reruns 2"
    for text in (
        (run / "logs" / "summary.txt").read_text(),
        (run / "pipeline_report.md").read_text(),
    ):
        assert said in text
        assert f"the refused collections' logs: {', '.join(LOGS)}" in text
