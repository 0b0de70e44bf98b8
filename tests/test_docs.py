"""The README's commands are the ones CI and the code really use."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```bash\n(.*?)\n```", text, re.DOTALL)


def test_ci_runs_the_readme_s_test_command_exactly() -> None:
    """The second command of "Two commands" is the last line of .ci/run."""
    test_command = readme_commands()[1]
    assert "tox -e lint,type,test" in test_command
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    assert ci[-1] == test_command


def test_readme_installs_nothing_outside_a_virtualenv() -> None:
    """A stock Debian Python refuses ``pip install`` into the system (PEP 668)."""
    for command in readme_commands()[:2]:
        assert "python3 -m pip" not in command
        assert command.startswith("python3 -m venv .venv && .venv/bin/python -m pip install")
