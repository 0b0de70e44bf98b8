"""Stage dataset: one row per validated pair, loadable with ``datasets.load_dataset("json")``.

Rows of every spec go to ``final_dataset/instruction_dataset.jsonl``; every
row has the same keys and types, so the JSON loader infers one schema.
"""

from __future__ import annotations

from typing import Any

from orchestrator.pairs.common import REPO_TESTS, SELF_TESTS, count, spec_rows, write_jsonl
from orchestrator.pipeline.engine import Outcome, RunContext, SpecState, WorkItem
from orchestrator.pipeline.storage import write_json

DATASET = "final_dataset/instruction_dataset.jsonl"
STATS = "final_dataset/stats.json"


class DatasetStage:
    name = "dataset"
    version = 1
    depends_on: tuple[str, ...] = ()
    cache_key: str | None = None  # it only writes what the stages before it found
    published = (DATASET, STATS)  # the files of every spec's rows that publish writes

    def __init__(self) -> None:
        self.rows: dict[str, list[dict[str, Any]]] = {}

    def items(self, ctx: RunContext, state: SpecState) -> list[WorkItem]:
        return []

    def run(self, ctx: RunContext, state: SpecState, item: WorkItem) -> Outcome:
        raise AssertionError("the dataset stage has no items")

    def apply(self, ctx: RunContext, state: SpecState, outcomes: dict[str, Outcome]) -> None:
        self.publish(ctx, state)

    def publish(self, ctx: RunContext, state: SpecState) -> None:
        """This spec's rows into the dataset of every spec's (also for a spec run elsewhere)."""
        validated: dict[str, dict[str, Any]] = state.values.get("pairs_validated", {})
        seeds = {s["key"]: s for s in state.values.get("pairs_seeds", [])}
        generated: dict[str, dict[str, Any]] = state.values.get("pairs_generated", {})
        rows = [
            dataset_row(seeds[key], generated[key], result)
            for key, result in sorted(validated.items())
        ]
        count(state, "final", len(rows))
        self.rows[state.name] = rows
        write_jsonl(ctx.root / DATASET, spec_rows(self.rows))
        write_json(ctx.root / STATS, dataset_stats(self.rows))


def dataset_row(
    seed: dict[str, Any], generated: dict[str, Any], result: dict[str, Any]
) -> dict[str, Any]:
    """A training row: the pair, the seed it came from, and how it was checked."""
    return {
        "instruction": generated["instruction"],
        "response": generated["response"],
        "concept": generated["concept"],
        "seed": {
            "repository": seed["repository"],
            "commit": seed["commit"],
            "path": seed["path"],
            "qualname": seed["qualname"],
            "source": seed["source"],
        },
        "guarding_tests": seed["guarding_tests"],
        "metrics": {name: metric["value"] for name, metric in result["metrics"].items()},
        "checks": {name: metric["passed"] for name, metric in result["metrics"].items()},
        "model": generated["model"],
        "validation": seed.get("validation", REPO_TESTS),
        "self_tests": generated.get("tests"),  # None for repo-tests: the guarding tests say it
    }


def dataset_stats(rows: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    every = spec_rows(rows)
    return {
        "pairs": len(every),
        "per_spec": {name: len(found) for name, found in sorted(rows.items())},
        "by_validation": {
            kind: sum(1 for r in every if r["validation"] == kind)
            for kind in (REPO_TESTS, SELF_TESTS)
        },
    }
