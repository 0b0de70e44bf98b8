"""build-cases exits truthfully: 1 when a spec stopped, 0 when every spec ran; stdout is the run."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from orchestrator.cli import cli
from orchestrator.pipeline.storage import UMASK, run_cache_dir
from tests.support.gitrepos import commit_files

PROJECT = {
    "pyproject.toml": (
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "tiny"\nversion = "0"\n[tool.setuptools]\npackages = ["tiny"]\n'
    ),
    "tiny/__init__.py": "def double(x):\n    return 2 * x\n",
    "tests/test_tiny.py": "from tiny import double\n\n\ndef test_double():\n    assert double(2) == 4\n",
    # An optional test dependency that is not installed: a collection error.
    "tests/test_optional.py": "import yaml_not_installed_here\n\n\ndef test_never():\n    pass\n",
}


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tiny") / "tiny"
    commit_files(path, PROJECT, "tiny project", when=1_700_000_000)
    return path


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


def build(tmp: Path, cache: Path, spec: dict[str, object], end: str = "scanner") -> Result:
    specs = tmp / "specs.py"
    specs.write_text(f"SPECS_TINY = {spec!r}\n")
    return CliRunner().invoke(
        cli,
        [
            "build-cases",
            "--config-path",
            str(specs),
            "--output-dir",
            str(tmp / "out"),
            "--cache-dir",
            str(cache),
            "--debug",
            f"end={end}",
        ],
    )


def test_a_spec_that_cannot_be_fetched_exits_1_and_leaves_no_run(
    repository: Path, cache: Path, tmp_path: Path
) -> None:
    """Nothing was run: exit 1, the reason once, no run directory, nothing on stdout."""
    result = build(tmp_path, cache, {"repository": str(repository), "commit": "no-such-tag"})
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.endswith(
        "fbench: error: nothing was run:\n"
        f"  SPECS_TINY: repo: {repository}: no commit, tag or branch 'no-such-tag'\n"
    )
    assert result.stderr.count("no-such-tag") == 1
    assert not list((tmp_path / "out").glob("*/*"))


def test_a_failing_install_exits_1_and_keeps_the_run(
    repository: Path, cache: Path, tmp_path: Path
) -> None:
    """A stopped spec: exit 1, the run on stdout, its reason once, how to resume; no class name."""
    result = build(tmp_path, cache, {"repository": str(repository), "install": "exit 7"})
    assert result.exit_code == 1
    (day,) = (tmp_path / "out").glob("[0-9]*")  # not the latest link
    (run,) = day.iterdir()
    assert result.stdout == f"{run}\n"
    assert result.stderr.count("install step 'exit 7' failed") == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "fbench: error: 1 spec(s) stopped (SPECS_TINY), listed above; after fixing the cause,"
        f" continue with: fbench build-cases --resume {run}"
    )
    assert "CommandError" not in result.stderr


def test_a_good_run_prints_its_directory_and_its_collection_errors(
    repository: Path, cache: Path, tmp_path: Path
) -> None:
    """Exit 0; stdout is the run alone; a test file that does not collect is in summary and report."""
    result = build(tmp_path, cache, {"repository": str(repository), "pip_packages": ["pytest"]})
    assert result.exit_code == 0, result.stderr
    run = Path(result.stdout.strip())
    assert result.stdout == f"{run}\n"
    assert "tests/test_optional.py: ModuleNotFoundError" in result.stderr
    summary = (run / "logs" / "summary.txt").read_text()
    assert "SPECS_TINY: 1 test file(s) do not collect:" in summary
    report = (run / "pipeline_report.md").read_text()
    assert "| `tests/test_optional.py` |" in report
    assert "yaml_not_installed_here" in report
    assert run_cache_dir(run) == cache.resolve()  # eval and --resume use it
    for path in (run / "metadata_outputs").rglob("*"):
        expected = (0o777 if path.is_dir() else 0o666) & ~UMASK
        assert path.stat().st_mode & 0o777 == expected, path
