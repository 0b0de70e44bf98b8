"""The ``uv`` backend, the default: today's local backend, made by ``uv venv``."""

from __future__ import annotations

from orchestrator.environments.managed import ManagedEnvironment


class UvEnvironment(ManagedEnvironment):
    # "local" is the name cases and caches already carry for this backend.
    backend = "local"
    tools = ("uv",)
