"""The stage list of build-cases, from the ``stages`` registry.

Built-in stages run in the order of :data:`STAGE_NAMES`. A plugin's stage says
where it goes with an ``after`` attribute naming the stage it follows, so a
new stage is one module plus one entry point.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from orchestrator.errors import UsageError
from orchestrator.pipeline.engine import Stage
from orchestrator.pipeline.registry import Registry
from orchestrator.stages import STAGE_NAMES


def stage_order(stages: Registry) -> list[str]:
    order = [name for name in STAGE_NAMES if name in stages.types()]
    extra = [name for name in stages.types() if name not in STAGE_NAMES]
    for name in extra:
        after = getattr(stages.get(name), "after", None)
        if after not in order:
            raise UsageError(
                f"stage {name!r} ({stages.get(name).__module__}): 'after' must name one of"
                f" {', '.join(order)}; got {after!r}"
            )
        order.insert(order.index(after) + 1, name)
    return order


def build_stages(stages: Registry, specs_dir: Path) -> list[Stage]:
    """One instance per registered stage, in order; ``specs_dir`` goes to those that take it."""
    return [_construct(stages.get(name), specs_dir) for name in stage_order(stages)]


def _construct(factory: Any, specs_dir: Path) -> Stage:
    takes_dir = "specs_dir" in inspect.signature(factory).parameters
    stage: Stage = factory(specs_dir) if takes_dir else factory()
    return stage
