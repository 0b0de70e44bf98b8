"""The ``venv`` backend: the standard library's venv, with pip from ensurepip."""

from __future__ import annotations

from orchestrator.environments.managed import ManagedEnvironment


class VenvEnvironment(ManagedEnvironment):
    backend = "venv"

    @property
    def tools(self) -> tuple[str, ...]:  # type: ignore[override]
        # venv cannot choose an interpreter: the spec's version must be on PATH.
        return (f"python{self.spec.python_version}",)

    def create_command(self) -> list[str]:
        return [self._tool(), "-m", "venv", str(self.root / "venv")]
