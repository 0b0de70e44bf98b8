"""The ``conda`` backend: conda, mamba or micromamba, whichever is installed.

The environment is a prefix (``create --prefix``), so it lives in featurebench's
cache like the others and needs no name in the manager's own list.
"""

from __future__ import annotations

from orchestrator.environments.managed import ManagedEnvironment


class CondaEnvironment(ManagedEnvironment):
    backend = "conda"
    tools = ("micromamba", "mamba", "conda")

    def create_command(self) -> list[str]:
        python = f"python={self.spec.python_version}"
        return [self._tool(), "create", "--yes", "--prefix", str(self.root / "venv"), python, "pip"]
