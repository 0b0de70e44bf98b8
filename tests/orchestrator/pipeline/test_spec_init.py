"""``fbench init``: a spec guessed from a repository's files, that build-cases accepts and runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from orchestrator.pipeline.spec_init import guess
from orchestrator.pipeline.specs import load_specs
from tests.orchestrator.feature_project import make_feature_project


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_a_test_extra_requirements_and_configured_plugins_are_guessed(tmp_path: Path) -> None:
    repo = write(
        tmp_path,
        {
            "pyproject.toml": '[project]\nname = "lib-x"\n'
            '[project.optional-dependencies]\ntests = ["hypothesis"]\n',
            "requirements-dev.txt": "hypothesis\n",
            "setup.cfg": "[tool:pytest]\naddopts = --cov=lib_x -n 2\n",
        },
    )
    found = guess(repo)
    assert found.name == "lib-x"
    assert found.install == "pip install -e '.[tests]'"
    assert found.pre_install == ["pip install -r requirements-dev.txt"]
    assert found.pip_packages == ["pytest", "pytest-cov", "pytest-xdist"]


def test_a_repository_without_packaging_installs_nothing(tmp_path: Path) -> None:
    found = guess(write(tmp_path / "scripts", {"tool.py": "", "test_tool.py": ""}))
    assert (found.name, found.install, found.pre_install) == ("scripts", "true", [])


def test_init_writes_a_spec_that_build_cases_runs(tmp_path: Path) -> None:
    """The feature project: init, then build-cases up to the runner with the spec as written."""
    make_feature_project(tmp_path / "geom")
    out = tmp_path / "specs" / "geom.toml"
    result = CliRunner().invoke(cli, ["init", str(tmp_path / "geom"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    (spec,) = load_specs(out)
    assert spec.settings.repository == "../geom"
    assert spec.settings.install == "pip install -e ."
    assert out.read_text().startswith("# A featurebench spec, written by `fbench init`")
    command = ["build-cases", "--config-path", str(out), "--debug", "end=runner"]
    command += ["--output-dir", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache")]
    built = CliRunner().invoke(cli, command, catch_exceptions=False)
    assert built.exit_code == 0, built.output
    (run,) = (tmp_path / "out").glob("[0-9]*/*")
    status = json.loads((run / "metadata_outputs" / "files_status.json").read_text())
    runner = [info["runner"]["status"] for info in status[spec.name]["files"].values()]
    assert runner
    assert set(runner) == {"ok"}


def test_init_does_not_replace_a_spec_without_force(tmp_path: Path) -> None:
    out = tmp_path / "specs.toml"
    out.write_text("# mine\n")
    command = ["init", str(tmp_path), "-o", str(out)]
    result = CliRunner().invoke(cli, command)
    assert result.exit_code == 2
    assert "exists; pass --force" in result.output
    assert out.read_text() == "# mine\n"
    assert CliRunner().invoke(cli, [*command, "--force"]).exit_code == 0
    assert load_specs(out)


@pytest.mark.parametrize("path", ["missing", "file.txt"])
def test_init_of_something_that_is_not_a_directory_is_refused(tmp_path: Path, path: str) -> None:
    (tmp_path / "file.txt").write_text("")
    result = CliRunner().invoke(cli, ["init", str(tmp_path / path), "-o", str(tmp_path / "s.toml")])
    assert result.exit_code == 2
    assert not (tmp_path / "s.toml").exists()
