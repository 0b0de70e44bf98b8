"""The seed's environment-manager operations, shared by the virtualenv-like backends.

uv, venv and conda all make a directory with ``bin/python`` in it, into which
pip installs; they differ only in the tool that makes it. So they share the
local backend's install and run (sandboxed, with a clean set of variables) and
add what seed 003's environment manager asks for: ``check_availability``,
``install_py_deps`` and ``run_cmd``.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.environments.local import LocalEnvironment
from orchestrator.environments.run_cmd import RunCmd
from orchestrator.errors import UsageError
from orchestrator.pipeline.process import run_command
from orchestrator.pipeline.specs import RepoSpec

if TYPE_CHECKING:
    from orchestrator.pipeline.engine import RunContext

Deps = Path | str | Sequence[str]


class ManagedEnvironment(RunCmd, LocalEnvironment):
    """A virtualenv made by ``tools`` (the first found wins) under the cache's ``envs/``."""

    tools: tuple[str, ...] = ()

    def __init__(self, key: str, spec: RepoSpec, ctx: RunContext):
        super().__init__(key, spec, ctx.cache_dir, ctx.run_env, sandboxed=ctx.sandbox)
        # Where the tools are looked for; our own interpreter's bin/ comes too, as
        # the uv and python that featurebench was installed with live there.
        self.search_path = os.pathsep.join([os.environ.get("PATH", ""), str(_own_bin())])

    def find_tool(self) -> str | None:
        for name in self.tools:
            found = shutil.which(name, path=self.search_path)
            if found is not None:
                return found
        return None

    def create_command(self) -> list[str] | None:
        """The command that makes ``root/venv``; None keeps the local backend's ``uv venv``."""
        return None

    def create(self, log: Path) -> None:
        command = self.create_command()
        if command is None:
            super().create(log)
            return
        if self.root.exists():
            shutil.rmtree(self.root)  # an earlier attempt that never finished
        (self.root / "home").mkdir(parents=True)
        run_command(command, env=self._install_env(), log_path=log, check=True, timeout=1800)

    def check_availability(self) -> bool:
        """Whether the tool that makes this kind of environment is installed here."""
        return self.find_tool() is not None

    def install_py_deps(self, deps: Deps, log: Path) -> None:
        """Install a requirements file, a list of requirements, or a library's directory."""
        self.root.mkdir(parents=True, exist_ok=True)
        self._pip(["install", *pip_arguments(deps)], self.root, log)

    def scratch_dir(self) -> Path:
        return self.root

    def _tool(self) -> str:
        found = self.find_tool()
        if found is None:
            raise UsageError(
                f"env_manager {self.backend!r}: none of {', '.join(self.tools)} is on PATH;"
                " install one or choose another env_manager"
            )
        return found


def pip_arguments(deps: Deps) -> list[str]:
    """pip's arguments for each of the three kinds of dependencies the seed names."""
    if isinstance(deps, str | Path):
        path = Path(deps)
        if path.is_dir():
            return [str(path.resolve())]
        if path.is_file():
            return ["-r", str(path.resolve())]
        raise UsageError(f"{deps}: no such requirements file or library directory")
    return [str(requirement) for requirement in deps]


def _own_bin() -> Path:
    return Path(sys.executable).parent
