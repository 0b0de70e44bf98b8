"""Interpreters the plugin is tested under.

The profile backend runs under this interpreter (3.11). The sys.monitoring
backend needs 3.12+, which Debian bookworm does not package, so CPython 3.13
is built once from Debian trixie's source (``build_cpython.sh``, cached in
``~/.cache/featurebench``) and given a virtualenv with the plugin installed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Read at import: pytester points HOME at a temporary directory during tests.
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
CPYTHON_PREFIX = Path(
    os.environ.get("FB_CPYTHON_PREFIX") or CACHE / "featurebench" / "cpython-3.13"
)
UV_ENV = {**os.environ, "UV_CACHE_DIR": os.environ.get("UV_CACHE_DIR") or str(CACHE / "uv")}
INNER_DEPS = ["pytest", "msgspec", "pytest-xdist", "pytest-cov", "coverage"]


def build_cpython313() -> Path:
    """The path of a CPython 3.13 interpreter, built from source if needed (~8 min)."""
    script = REPO / "tests" / "support" / "build_cpython.sh"
    done = subprocess.run(
        ["bash", str(script), str(CPYTHON_PREFIX)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"building CPython 3.13 failed:\n{done.stderr[-4000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


def make_plugin_venv(python: Path, where: Path) -> Path:
    """A virtualenv for ``python`` with pytest, msgspec and our plugin; returns its python."""
    uv = [sys.executable, "-m", "uv"]
    subprocess.run([*uv, "venv", "-q", "-p", str(python), str(where)], check=True, env=UV_ENV)
    venv_python = where / "bin" / "python"
    install = [*uv, "pip", "install", "-q", "--python", str(venv_python)]
    subprocess.run([*install, *INNER_DEPS], check=True, env=UV_ENV)
    subprocess.run([*install, "--no-deps", "-e", str(REPO)], check=True, env=UV_ENV)
    return venv_python
