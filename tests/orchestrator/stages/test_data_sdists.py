"""The whole pipeline, data stage included, on two real libraries from PyPI.

cachetools 5.5.2 (src layout, setuptools) and toolz 1.0.0 (flat layout) are
the example specs shipped in specs/. Every case exported is checked from the
outside: gold passes, the test patch alone fails, no removed code is left.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from orchestrator.extract.leaks import scan_repository
from orchestrator.extract.worktrees import python_files
from tests.support.caseutil import checked_out, instance, pytest_in_case, removed_marks

pytestmark = pytest.mark.network

SPECS = Path(__file__).resolve().parents[3] / "specs"


@pytest.mark.parametrize(
    ("specs", "name", "checkout"),
    [
        ("example_specs.py", "SPECS_CACHETOOLS", "pypi__cachetools-5.5.2"),
        ("example_specs.toml", "SPECS_TOOLZ", "pypi__toolz-1.0.0"),
    ],
)
def test_real_sdist_gives_valid_leak_free_cases(
    tmp_path: Path, specs: str, name: str, checkout: str
) -> None:
    cache = tmp_path / "cache"
    command = ["build-cases", "--config-path", str(SPECS / specs), "--cache-dir", str(cache)]
    command += ["--output-dir", str(tmp_path / "out")]
    result = CliRunner().invoke(cli, command, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    (run,) = (tmp_path / "out").glob("[0-9]*/*")
    status = json.loads((run / "metadata_outputs" / "data_status.json").read_text())[name]
    lv1 = sorted(run.glob("cases/*/*.lv1"))
    assert status["valid_files"] >= 2, status
    assert len(lv1) == status["valid_units"]  # one level 1 case per valid unit
    sources = python_files(cache / "repos" / checkout)
    for case in lv1:
        info = instance(case)
        gold = checked_out(case, tmp_path / f"{case.name}.gold", "patch.diff", "test_patch.diff")
        wanted = [*info["FAIL_TO_PASS"], *info["PASS_TO_PASS"]]
        assert pytest_in_case(cache, case, gold, wanted) == 0, case
        bare = checked_out(case, tmp_path / f"{case.name}.bare", "test_patch.diff")
        assert pytest_in_case(cache, case, bare, info["FAIL_TO_PASS"]) != 0, case
        assert scan_repository(case / "repo", removed_marks(case, sources)) == []
