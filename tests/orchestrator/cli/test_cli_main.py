"""The ``fbench`` entry point: what it imports to start, its version, and the plugin wheel."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from importlib.metadata import version
from pathlib import Path

from click.testing import CliRunner

from orchestrator import __version__
from orchestrator.cli import cli
from tests.support.interpreters import UV_ENV

HEAVY = ("openai", "matplotlib", "docker", "rich", "datasets", "dulwich")
PROBE = """
import contextlib, io, sys
with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
    from orchestrator.cli import cli
    cli(sys.argv[1:], prog_name="fbench")
print(" ".join(sorted(name for name in {heavy!r} if name in sys.modules)))
"""


def heavy_modules_after(*args: str) -> list[str]:
    probe = PROBE.format(heavy=HEAVY)
    done = subprocess.run(
        [sys.executable, "-c", probe, *args], capture_output=True, text=True, check=True
    )
    return done.stdout.split()


def test_help_and_version_import_no_heavy_module() -> None:
    """openai, matplotlib, rich, docker, datasets and dulwich load only where they are used."""
    for args in (["--help"], ["--version"], ["eval", "--help"], ["export", "--help"]):
        assert heavy_modules_after(*args) == [], args


def test_version_is_the_pytest_featurebench_distribution_s() -> None:
    assert __version__ == version("pytest-featurebench")
    assert CliRunner().invoke(cli, ["--version"]).output == f"fbench, version {__version__}\n"


def test_plugin_wheel_traces_in_an_environment_without_the_orchestrator(tmp_path: Path) -> None:
    """The wheel holds the plugin alone, needs pytest and msgspec, and records a run."""
    result = CliRunner().invoke(cli, ["plugin-wheel", "-o", str(tmp_path / "dist")])
    assert result.exit_code == 0, result.output
    wheel = Path(result.output.strip())
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names if not name.endswith(".dist-info/RECORD")} == {
        "pytest_featurebench",
        wheel.name.split("-py3")[0] + ".dist-info",
    }
    uv = [sys.executable, "-m", "uv"]
    subprocess.run([*uv, "venv", "-q", str(tmp_path / "venv")], check=True, env=UV_ENV)
    python = tmp_path / "venv" / "bin" / "python"
    install = [*uv, "pip", "install", "-q", "--python", str(python), str(wheel)]
    subprocess.run(install, check=True, env=UV_ENV)
    (tmp_path / "test_one.py").write_text("def test_one():\n    assert True\n")
    out = tmp_path / "records.jsonl"
    command = [str(python), "-m", "pytest", "-q", "-p", "featurebench", "--fb-out", str(out)]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert '"type":"session_end"' in out.read_text().replace(" ", "")
    missing = [str(python), "-c", "import orchestrator"]
    assert subprocess.run(missing, cwd=tmp_path, capture_output=True).returncode != 0
