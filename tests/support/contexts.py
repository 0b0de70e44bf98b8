"""A run context for driving environments by hand, outside ``fbench build-cases``."""

from __future__ import annotations

from pathlib import Path

from orchestrator.pipeline.engine import RunContext
from orchestrator.pipeline.storage import ResultCache


def scratch_context(work: Path, backend: str, run_env: dict[str, str] | None = None) -> RunContext:
    """What build-cases would make for a run under ``work``: run/ and cache/ in it."""
    for name in ("run/logs", "cache"):
        (work / name).mkdir(parents=True, exist_ok=True)
    return RunContext(
        root=work / "run",
        cache=ResultCache(work / "cache"),
        journal=ResultCache(work / "run" / "journal"),
        jobs=1,
        seed=0,
        logs_dir=work / "run" / "logs",
        repos_dir=work / "cache" / "repos",
        cache_dir=work / "cache",
        backend=backend,
        run_env=run_env or {},
    )
