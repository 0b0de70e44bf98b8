"""``run_cmd``, the seed's plain "run a command here", on top of a backend's ``run``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from orchestrator.environments import Environment
from orchestrator.pipeline.process import CommandResult


class _Runs(Environment, Protocol):
    def scratch_dir(self) -> Path: ...


class RunCmd:
    """Mixed into a backend that has ``run`` and a ``scratch_dir`` to work in by default."""

    def run_cmd(
        self: _Runs,
        argv: Sequence[str],
        *,
        cwd: Path | None = None,
        timeout: float | None = None,
        log: Path | None = None,
        network: bool = False,
    ) -> CommandResult:
        """Run ``argv`` in this environment, in ``cwd`` (else the backend's scratch directory)."""
        repo = cwd or self.scratch_dir()
        repo.mkdir(parents=True, exist_ok=True)
        return self.run(argv, repo=repo, timeout=timeout, log=log, network=network)
