"""The data stage's last step with the Docker backend: one image per written case.

The cases stand without their images; a failed build is the run's error (its exit
status tells), not a reason to drop a case. The Docker SDK is imported only here.
"""

from __future__ import annotations

from orchestrator.environments import Environment
from orchestrator.errors import CommandError
from orchestrator.pipeline.engine import RunContext, SpecState


def case_images(ctx: RunContext, state: SpecState, names: list[str]) -> None:
    """With the Docker backend, one image per case (orchestrator/environments/docker_case.py)."""
    environment: Environment | None = state.values.get("environment")
    if environment is None or environment.backend != "docker" or not names:
        return
    from orchestrator.environments.docker_case import build_case_images

    log = ctx.logs_dir / "case_images" / f"{state.name}.log"
    cases = [ctx.root / "cases" / name for name in names]
    try:
        build_case_images(f"featurebench/instance:{environment.key}", environment.key, cases, log)
    except CommandError as exc:  # the cases stand; the run's exit status tells
        ctx.error(f"{state.name}: case images: {exc}")
