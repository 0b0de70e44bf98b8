"""Stage image: the environment each spec's tests run in, keyed by what makes it.

The key covers the backend, the interpreter, every install command, the
commit and the plugin's sources: changing an install command builds a new
environment; changing a test timeout does not. An environment that no longer
serves its checkout (a moved cache: :mod:`orchestrator.environments.binding`)
is built again rather than reused. Once every spec has its
environment, the Docker images of the keys they replaced are removed
(:func:`remove_replaced`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from orchestrator.environments import Environment, make_environment
from orchestrator.environments.plugin_wheel import plugin_digest
from orchestrator.errors import CommandError
from orchestrator.pipeline.engine import Outcome, RunContext, SpecState, WorkItem
from orchestrator.pipeline.repos import Checkout
from orchestrator.pipeline.storage import cache_lock, fingerprint

log = logging.getLogger("fbench.image")


class ImageStage:
    name = "image"
    version = 2  # 2: pip_packages are installed before the project
    depends_on: tuple[str, ...] = ("repo",)
    cache_key: str | None = None  # the environment's own completion marker is its cache

    def items(self, ctx: RunContext, state: SpecState) -> list[WorkItem]:
        spec = state.spec.settings
        inputs = {
            "backend": ctx.backend,
            "base_image": spec.base_image,
            "python_version": spec.python_version,
            "pre_install": spec.pre_install,
            "install": spec.install,
            "pip_packages": spec.pip_packages,
            "plugin": plugin_digest(),
        }
        if spec.env_manager:  # only when set, so keys made before the option stay valid
            inputs["env_manager"] = spec.env_manager
        if ctx.backend == "docker":
            from orchestrator.environments.docker_base import docker_inputs

            inputs.update(docker_inputs(spec))
        else:  # a local environment's editable install points at its checkout: two specs
            # of one repository (two checkouts) must not share one; the name, not the path,
            # so a case's environment key is the same whichever cache made it
            inputs["checkout"] = state.values["checkout"].path.name
        return [WorkItem("environment", inputs)]

    def run(self, ctx: RunContext, state: SpecState, item: WorkItem) -> Outcome:
        key = fingerprint(self.name, self.version, item.inputs, state.fingerprints["repo"])[:24]
        environment = make_environment(ctx, key, state.spec.settings)
        checkout: Checkout = state.values["checkout"]
        log = ctx.logs_dir / "instance" / f"{state.name}.log"
        settings = state.spec.settings
        rebuild = settings.rebuild_instance_image or settings.rebuild_base_image
        # Another run on this cache may be building it: wait, then reuse what it made.
        with cache_lock(ctx.cache_dir, "environment", key):
            if rebuild or not environment.exists() or _unbound(environment, checkout, log):
                environment.create(log)
                environment.install(checkout.path, log)
                return Outcome("ok", "built", data={"key": key})
        return Outcome("ok", "reused", data={"key": key})

    def apply(self, ctx: RunContext, state: SpecState, outcomes: dict[str, Outcome]) -> None:
        (outcome,) = outcomes.values()
        if outcome.status != "ok":
            state.stopped = f"image: {outcome.reason}"
            return
        key = outcome.data["key"]
        environment: Environment = make_environment(ctx, key, state.spec.settings)
        state.values["environment"] = environment
        state.fingerprints[self.name] = key


def _unbound(environment: Environment, checkout: Checkout, log_path: Path) -> bool:
    """Whether the environment to reuse lost its checkout (a moved cache, say): then it is
    built again, and the run's log and the environment's own say why in one line."""
    why = environment.stale(checkout.path)
    if why is not None:
        line = f"environment {environment.key} is rebuilt: {why}"
        log.info(line)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("a", encoding="utf-8") as handle:
            handle.write(f"# {line}\n")
    return why is not None


def remove_replaced(ctx: RunContext, states: Sequence[SpecState]) -> None:
    """After the image stage of every spec: the Docker images no spec uses any more.

    A spec is its repository and name; one whose image stage failed keeps its old key.
    """
    uses = {
        f"{state.spec.settings.repository} {state.name}": state.values["environment"].key
        for state in states
        if getattr(state.values.get("environment"), "backend", None) == "docker"
    }
    if not uses:
        return
    from orchestrator.environments.docker_replaced import remove_replaced as remove

    try:
        removed = remove(ctx.cache_dir, uses)
    except CommandError as exc:  # the run's cases do not depend on it: say so, go on
        ctx.warn(f"could not remove replaced Docker images: {exc}")
        return
    if removed:
        log.info("removed %d Docker images replaced by this run: %s", len(removed), removed)
