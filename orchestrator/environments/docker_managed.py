"""The ``docker`` backend with the environment manager's operations it can support.

An instance image is complete once committed, so its dependencies come in at
build time (``pre_install``, ``pip_packages``); ``install_py_deps`` says so
rather than install into a container that is thrown away.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from orchestrator.environments.docker import DockerEnvironment
from orchestrator.environments.docker_engine import client as _client
from orchestrator.environments.run_cmd import RunCmd
from orchestrator.errors import CommandError, UsageError


class DockerManagedEnvironment(RunCmd, DockerEnvironment):
    def check_availability(self) -> bool:
        """Whether a Docker daemon answers at $DOCKER_HOST (or the default socket)."""
        try:
            with _client() as client:
                return bool(client.ping())
        except CommandError:
            return False

    def install_py_deps(self, deps: Path | str | Sequence[str], log: Path) -> None:
        raise UsageError(
            f"env_manager 'docker': {self.tag} is built once; put {deps} in the spec's"
            " pip_packages or pre_install instead"
        )

    def scratch_dir(self) -> Path:
        return self.ctx.cache_dir / "docker-scratch" / self.key
