"""Stage repo: fetch each spec's repository with dulwich and check out its commit.

Not cached by the engine: the clone in ``--repos-dir`` is its own cache, and a
missing ``commit`` means HEAD, which may move between runs.
"""

from __future__ import annotations

from pathlib import Path

from orchestrator.pipeline.engine import Outcome, RunContext, SpecState, WorkItem
from orchestrator.pipeline.repos import Checkout, checkout_spec
from orchestrator.pipeline.storage import fingerprint


class RepoStage:
    name = "repo"
    version = 1
    depends_on: tuple[str, ...] = ()
    cache_key: str | None = None

    def __init__(self, specs_dir: Path):
        self.specs_dir = specs_dir

    def items(self, ctx: RunContext, state: SpecState) -> list[WorkItem]:
        return [WorkItem(state.spec.settings.repository, {})]

    def run(self, ctx: RunContext, state: SpecState, item: WorkItem) -> Outcome:
        checkout = checkout_spec(
            state.spec.settings, ctx.repos_dir, self.specs_dir, ctx.cache_dir / "sdists"
        )
        data = {"path": str(checkout.path), "commit": checkout.commit, "slug": checkout.slug}
        return Outcome("ok", data=data)

    def apply(self, ctx: RunContext, state: SpecState, outcomes: dict[str, Outcome]) -> None:
        (outcome,) = outcomes.values()
        if outcome.status != "ok":
            state.stopped = f"repo: {outcome.reason}"
            return
        data = outcome.data
        state.values["checkout"] = Checkout(Path(data["path"]), data["commit"], data["slug"])
        # Downstream stages depend on the commit, not on how it was asked for.
        state.fingerprints[self.name] = fingerprint("commit", data["commit"])
