"""Interpreters the plugin is tested under.

The profile and rewrite backends run under this interpreter (3.11). Debian
bookworm packages no other: CPython 3.13 (for sys.monitoring) is built once
from Debian trixie's source and 3.9 (the oldest the plugin supports, for the
rewrite backend) from bullseye's, by ``build_cpython.sh``, cached in
``~/.cache/featurebench``; each gets a virtualenv with the plugin installed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from orchestrator.environments.plugin_wheel import build_plugin_wheel

REPO = Path(__file__).resolve().parents[2]
# Read at import: pytester points HOME at a temporary directory during tests.
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
UV_ENV = {**os.environ, "UV_CACHE_DIR": os.environ.get("UV_CACHE_DIR") or str(CACHE / "uv")}
INNER_DEPS = ["pytest", "msgspec", "pytest-xdist", "pytest-cov", "coverage", "pytest-benchmark"]


def cpython_prefix(series: str) -> Path:
    """Where ``build_cpython.sh`` installs CPython ``series`` (3.13 or 3.9)."""
    override = os.environ.get("FB_CPYTHON_PREFIX") if series == "3.13" else None
    return Path(override or CACHE / "featurebench" / f"cpython-{series}")


def build_cpython(series: str) -> Path:
    """The path of a CPython ``series`` interpreter, built from source if needed (4-8 min)."""
    script = REPO / "tests" / "support" / "build_cpython.sh"
    done = subprocess.run(
        ["bash", str(script), str(cpython_prefix(series))],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "FB_CPYTHON_SERIES": series},
    )
    if done.returncode != 0:
        raise RuntimeError(f"building CPython {series} failed:\n{done.stderr[-4000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


def make_plugin_venv(python: Path, where: Path) -> Path:
    """A virtualenv for ``python`` with pytest, msgspec and our plugin; returns its python.

    The plugin goes in as the wheel environments under test get, which holds
    the plugin alone: featurebench itself needs Python 3.11+.
    """
    uv = [sys.executable, "-m", "uv"]
    subprocess.run([*uv, "venv", "-q", "-p", str(python), str(where)], check=True, env=UV_ENV)
    venv_python = where / "bin" / "python"
    install = [*uv, "pip", "install", "-q", "--python", str(venv_python)]
    subprocess.run([*install, *INNER_DEPS], check=True, env=UV_ENV)
    wheel = build_plugin_wheel(where / "wheels")
    subprocess.run([*install, "--no-deps", str(wheel)], check=True, env=UV_ENV)
    return venv_python
