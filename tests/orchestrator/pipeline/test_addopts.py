"""The addopts repair against real pytest sessions in small git repositories.

Each repository's configuration names an option of an absent plugin (``--reruns``: no
pytest-rerunfailures here) or a ``-p`` plugin that does not exist; pytest refuses the
session (exit 4), the repair drops what it refused, and pytest then runs the tests.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.pipeline import addopts
from orchestrator.pipeline.status import update_files_status
from tests.support.gitrepos import commit_files

TEST = "def test_one():\n    assert 1 + 1 == 2\n"


def repo(path: Path, files: dict[str, str]) -> Path:
    commit_files(path, {**files, "tests/test_one.py": TEST}, "project", 1_700_000_000)
    return path


def session(root: Path, *args: str) -> tuple[str, int]:
    """A real pytest session in ``root``, plugins only by ``-p``: its output and exit code."""
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args]
    done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, check=False)
    return done.stdout + done.stderr, done.returncode


def repaired(root: Path) -> addopts.AddoptsRepair:
    """The repair, as often as pytest refuses; the repaired session must pass."""
    fixed = None
    for _ in range(addopts.MAX_REPAIRS):
        output, code = session(root, *([] if fixed is None else fixed.args))
        if code == 0:
            break
        fixed = addopts.repair(output, code, root, fixed)
        assert fixed is not None, output
    output, code = session(root, *([] if fixed is None else fixed.args))
    assert code == 0, output
    assert fixed is not None
    return fixed


@pytest.mark.parametrize("name", ["pytest.toml", ".pytest.toml"])
def test_pytest_own_toml_files_are_read(tmp_path: Path, name: str) -> None:
    """pytest 9 reads ``[pytest]`` of pytest.toml before any other file; addopts is a list."""
    files = {
        name: '[pytest]\naddopts = ["--reruns", "2", "-q"]\n',
        "pyproject.toml": '[tool.pytest.ini_options]\naddopts = "-x"\n',  # not read: shadowed
    }
    fixed = repaired(repo(tmp_path / "p", files))
    assert fixed == addopts.AddoptsRepair(name, ("-q",), ("--reruns", "2"))


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("pytest.ini", "[pytest]\naddopts = -p fb_absent_plugin -q\n"),
        ("pytest.toml", '[pytest]\naddopts = ["-pfb_absent_plugin", "-q"]\n'),
        ("pyproject.toml", '[tool.pytest]\naddopts = ["-q", "-p", "fb_absent_plugin"]\n'),
        ("setup.cfg", "[tool:pytest]\naddopts = -p fb_absent_plugin\n  -q\n"),
    ],
)
def test_a_plugin_that_is_not_installed_is_dropped(tmp_path: Path, name: str, text: str) -> None:
    """pytest stops with an import error, naming no configuration file: the repair finds
    the one pytest reads (tox.ini has no pytest section, so it is not that one)."""
    root = repo(tmp_path / "p", {name: text, "tox.ini": "[tox]\nenvlist = py311\n"})
    output, code = session(root)
    assert code in (addopts.USAGE_ERROR, 1)  # 1: pytest 9.0
    assert 'Error importing plugin "fb_absent_plugin"' in output
    fixed = repaired(root)
    assert (fixed.config, fixed.kept) == (name, ("-q",))
    assert "".join(fixed.dropped) == "-pfb_absent_plugin"


def test_a_plugin_and_its_options_are_dropped_one_refusal_after_the_other(
    tmp_path: Path,
) -> None:
    text = "[pytest]\naddopts = -p fb_absent_plugin --reruns 2 --strict-markers\n"
    fixed = repaired(repo(tmp_path / "p", {"tox.ini": text}))
    assert fixed == addopts.AddoptsRepair(
        "tox.ini", ("--strict-markers",), ("-p", "fb_absent_plugin", "--reruns", "2")
    )


def test_a_plugin_named_on_the_command_line_is_not_repaired(tmp_path: Path) -> None:
    """Only the configuration's -p is the project's to drop: the spec's own command stands."""
    root = repo(tmp_path / "p", {"pytest.ini": "[pytest]\naddopts = -q\n"})
    output, code = session(root, "-p", "fb_absent_plugin")
    assert 'Error importing plugin "fb_absent_plugin"' in output
    assert addopts.repair(output, code, root) is None


def test_the_files_status_keeps_a_repair_only_while_there_is_one(tmp_path: Path) -> None:
    """A later run whose collection needs no repair (the plugin was installed) says none."""
    repair = {"config": "tox.ini", "kept": [], "dropped": ["--reruns", "2"]}
    update_files_status(tmp_path, "SPECS_P", {"tests/test_one.py": {"tests": 1}}, {}, repair)
    update_files_status(tmp_path, "SPECS_P", {"tests/test_one.py": {"tests": 1}}, {})
    status = (tmp_path / "files_status.json").read_text()
    assert '"addopts"' not in status
    assert "tests/test_one.py" in status
