"""``fbench build-cases`` up to the runner on a real library: cachetools 5.5.2 from PyPI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli

pytestmark = pytest.mark.network

SPECS = Path(__file__).resolve().parents[2] / "specs" / "example_specs.py"


def test_cachetools_sdist_to_the_runner(tmp_path: Path) -> None:
    """The shipped example spec: the sdist becomes a repository, its 12 test files pass."""
    result = CliRunner().invoke(
        cli,
        [
            "build-cases",
            "--config-path",
            str(SPECS),
            "--output-dir",
            str(tmp_path / "out"),
            "--cache-dir",
            str(tmp_path / "cache"),
            "--debug",
            "end=runner",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    (run,) = (tmp_path / "out").glob("[0-9]*/*")
    status = json.loads((run / "metadata_outputs" / "files_status.json").read_text())[
        "SPECS_CACHETOOLS"
    ]
    files = status["files"]
    assert len(files) == 12
    assert all(info["runner"]["status"] == "ok" for info in files.values())
    assert sum(info["f2p_candidate"] for info in files.values()) == 5
    assert files["tests/test_lru.py"]["tests"] == 15
    metadata = json.loads((run / "metadata_outputs" / "metadata.json").read_text())
    # The sdist's one commit is built with fixed author and dates: the same id everywhere.
    assert (
        metadata["specs"]["SPECS_CACHETOOLS"]["commit"]
        == "8e5e90a8f108a8094d599719023ec0b414df5c1b"
    )
