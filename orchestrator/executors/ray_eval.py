"""``fbench eval --executor ray``: one Ray task per case.

The case directory travels to the task as data and is laid out on the node;
the task finds or builds the case's environment there (the node's cache),
grades the patch, and sends back its result and its logs. The driver writes
the reports, as with the local executor.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from orchestrator.executors.ray_tasks import TASK_RETRIES, RayExecutor
from orchestrator.executors.transfer import Entry, lay_out, pack
from orchestrator.grading.eval_inputs import Case
from orchestrator.grading.eval_report import InstanceResult
from orchestrator.pipeline.engine import RunContext
from orchestrator.pipeline.storage import ResultCache, usable_cache_dir

Progress = Callable[[str, int, int], None]


def grade_on_ray(
    address: str | None,
    ctx: RunContext,
    jobs: list[tuple[Case, str]],
    logs: Path,
    show: tuple[str, Progress],
    fuzz: bool,
    backend: str | None,
) -> list[InstanceResult]:
    """Every (case, patch) graded on the cluster; results in the order of ``jobs``."""
    executor = RayExecutor(address)
    try:
        executor.connect(ctx.jobs)
        ray = executor.ray
        task = ray.remote(_case_task).options(num_cpus=1, max_retries=TASK_RETRIES)
        template = ray.put(replace(ctx, llm=None, stats={}, warnings=[], errors=[]))
        refs = [
            task.remote(template, pack(c.path), c.instance, p, (fuzz, backend)) for c, p in jobs
        ]
        return _collect(ray, refs, logs, show)
    finally:
        executor.close()


def _collect(
    ray: Any, refs: list[Any], logs: Path, show: tuple[str, Progress]
) -> list[InstanceResult]:
    model, progress = show
    results: dict[Any, InstanceResult] = {}
    pending = list(refs)
    progress(model, 0, len(refs))
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        result, files = ray.get(done[0])
        lay_out(logs / result.instance_id, files)
        results[done[0]] = result
        progress(model, len(results), len(refs))
    return [results[ref] for ref in refs]


def _case_task(
    template: RunContext,
    files: list[Entry],
    instance: dict[str, Any],
    patch: str,
    how: tuple[bool, str | None],
) -> tuple[InstanceResult, list[Entry]]:
    """On a worker: lay the case out, find or build its environment here, grade the patch."""
    from orchestrator.grading.evaluate import _environments, evaluate_case

    with tempfile.TemporaryDirectory(prefix="fbench-case-") as folder:
        root = Path(folder)
        case = Case(root / "case", instance)
        lay_out(case.path, files)
        cache_dir = usable_cache_dir(template.cache_dir)
        ctx = replace(
            template,
            root=root / "eval",
            logs_dir=root / "eval" / "logs",
            journal=ResultCache(root / "eval" / "journal"),
            cache=ResultCache(cache_dir),
            cache_dir=cache_dir,
        )
        fuzz, backend = how
        environment = _environments(ctx, {case.instance_id: case}, backend)[case.instance_id]
        result = evaluate_case(environment, case, patch, root / "logs", fuzz=fuzz)
        return result, pack(root / "logs" / case.instance_id)
