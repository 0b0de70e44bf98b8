"""The executors of one machine: ``local`` streams every spec through its stages;
``stagewise`` keeps the earlier order, one stage across every spec at a time.

``local`` runs up to ``--jobs`` specs at once, each on a thread of its own that
moves to its next stage as soon as it ends one; their items share one pool of
``--jobs`` workers, so the work in flight stays bounded by ``--jobs``.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial

from orchestrator.executors import SpecWork
from orchestrator.pipeline.engine import run_spec


class LocalExecutor:
    def __init__(self, address: str | None = None):
        self.address = address  # nothing to join: everything runs in this process

    def run_specs(self, work: SpecWork) -> None:
        jobs = max(1, work.ctx.jobs)
        items = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="fbench-item")
        specs = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="fbench-spec")
        futures: list[Future[None]] = []
        try:
            for state in work.states:
                ended = partial(work.ended, state.name)
                progress = work.progress_of(state.name)
                futures.append(
                    specs.submit(run_spec, work.ctx, work.stages, state, ended, progress, items)
                )
            for future in futures:
                future.result()
        except BaseException:
            # Ctrl-C: queued specs and items are dropped, not drained; the caller exits at once.
            specs.shutdown(wait=False, cancel_futures=True)
            items.shutdown(wait=False, cancel_futures=True)
            raise
        specs.shutdown()
        items.shutdown()

    def close(self) -> None:
        return None


class StagewiseExecutor:
    """The order before streaming: every spec waits at each stage for the slowest."""

    def __init__(self, address: str | None = None):
        self.address = address

    def run_specs(self, work: SpecWork) -> None:
        for stage in work.stages:
            for state in work.states:
                ended = partial(work.ended, state.name)
                run_spec(work.ctx, [stage], state, ended, work.progress_of(state.name))

    def close(self) -> None:
        return None
