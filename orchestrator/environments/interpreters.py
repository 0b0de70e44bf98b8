"""Finding an installed Python of the version a spec asks for (``python_version``).

uv's own discovery comes first, run with the user's variables (their PATH and
HOME, where uv keeps the interpreters it installed): the environment of the
project's commands is scrubbed, and uv looking from there missed interpreters
that are plainly installed. Then the places uv does not look: pyenv's
versions (its shims only answer for the versions pyenv has selected) and the
interpreters featurebench built itself. Every candidate is asked its version
before it is used. Nothing is downloaded. When none fits, the error names
every place searched and how to install one.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from orchestrator.errors import StageError
from orchestrator.pipeline.process import run_command

_VERSION_CHECK = "import sys; print('.'.join(map(str, sys.version_info[:3])))"


def find_interpreter(version: str) -> str:
    """The path of an installed Python whose version starts with ``version`` (``3.13``)."""
    found = _uv_find(version)
    if found is not None:
        return found
    for candidate in _extra_candidates(version):
        if _reports(candidate, version):
            return str(candidate)
    raise StageError(
        f"python_version {version!r}: no such interpreter installed; searched {_searched()};"
        f" install one with `uv python install {version}` (or your package manager) and run again"
    )


def _uv_find(version: str) -> str | None:
    # --system: fbench's own virtualenv is not the project's interpreter.
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    done = run_command(
        [sys.executable, "-m", "uv", "python", "find", "--system", version], env=env, timeout=60
    )
    path = done.output.strip().splitlines()[-1] if done.ok and done.output.strip() else ""
    return path if path and _reports(Path(path), version) else None


def _extra_candidates(version: str) -> list[Path]:
    name = f"python{version if version.count('.') == 1 else '.'.join(version.split('.')[:2])}"
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    built = _cache_home() / "featurebench"
    return [
        *sorted(pyenv.glob(f"{version}*/bin/{name}"), reverse=True),
        *sorted(built.glob(f"cpython-{version}*/bin/{name}"), reverse=True),
    ]


def _cache_home() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")


def _reports(python: Path, version: str) -> bool:
    """Whether ``python`` runs and is of ``version`` (3.13 matches 3.13.2, not 3.1)."""
    if not python.is_file():
        return False
    done = run_command([str(python), "-c", _VERSION_CHECK], timeout=30)
    actual = done.output.strip()
    return done.ok and (actual == version or actual.startswith(version + "."))


def _searched() -> str:
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    return (
        f"uv's managed interpreters and PATH ({os.environ.get('PATH', '')}),"
        f" {pyenv} and {_cache_home() / 'featurebench'}"
    )
