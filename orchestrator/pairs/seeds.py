"""Stage seeds: project functions that the repository's own tests guard.

A function is a seed when the passing tests reach it within ``max_depth``
calls (its *guarding tests*), it passes every filter of ``[pairs]`` (each a
recorded drop reason), it duplicates no seed before it, and at least one
guarding test fails once its body is ``raise NotImplementedError``. That last
check runs in the spec's environment on a scratch copy, the way the data stage
probes; it is the only one that runs tests, so it comes after every cheap one.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from orchestrator.extract.masking import MaskError, Target
from orchestrator.extract.stubbing import STUB_BODY, stub_bodies
from orchestrator.extract.worktrees import copy_scratch, scratch_dir, write_files
from orchestrator.pairs.common import (
    count,
    drop,
    failing_tests,
    project_files,
    spec_rows,
    test_runner,
    write_jsonl,
)
from orchestrator.pairs.config import PairsConfig
from orchestrator.pairs.functions import (
    FunctionFacts,
    function_facts,
    is_test_helper,
    ngrams,
    normalised_hash,
    similarity,
)
from orchestrator.pipeline.engine import Outcome, RunContext, SpecState, WorkItem
from orchestrator.pipeline.storage import write_json
from orchestrator.pipeline.traces import FileTrace
from orchestrator.stages.data import scratch_root

ROWS = "seed_output/filtered_functions.jsonl"
STATS = "seed_output/stats.json"
STUB_SURVIVED = "stub survives"


@dataclass
class Candidate:
    path: str
    qualname: str
    facts: FunctionFacts
    tests: dict[str, int] = field(default_factory=dict)  # guarding test -> depth
    origin: str = ""  # a --source row's ``<index>:``, as two rows may share a path

    @property
    def key(self) -> str:
        return f"{self.origin}{self.path}::{self.qualname}"


class SeedsStage:
    name = "seeds"
    version = 1
    depends_on: tuple[str, ...] = ("dynamic",)
    cache_key: str | None = "data_cache"  # the pairs stages' counterpart of the data stage
    published = (ROWS, STATS)  # the files of every spec's rows that publish writes

    def __init__(self, config: PairsConfig, num_samples: int | None) -> None:
        self.config = config
        self.num_samples = num_samples
        self.rows: dict[str, list[dict[str, Any]]] = {}
        self.stats: dict[str, dict[str, Any]] = {}

    def items(self, ctx: RunContext, state: SpecState) -> list[WorkItem]:
        candidates = self._candidates(ctx, state)
        state.values["pairs_candidates"] = {c.key: c for c in candidates}
        spec = state.spec.settings
        common = {"test_cmd": spec.test_cmd, "timeout_run": spec.timeout_run}
        return [
            WorkItem(
                c.key,
                {
                    "path": c.path,
                    "qualname": c.qualname,
                    "source": c.facts.source,
                    "tests": sorted(c.tests),
                    **common,
                },
            )
            for c in candidates
        ]

    def run(self, ctx: RunContext, state: SpecState, item: WorkItem) -> Outcome:
        tests: list[str] = item.inputs["tests"]
        files = project_files(state)
        target = Target(item.inputs["path"], item.inputs["qualname"])
        try:
            stubbed, _ = stub_bodies(files, [target])
        except MaskError as exc:
            return Outcome("failed", f"cannot stub: {exc}")
        runner = test_runner(ctx, state, item.key)
        with scratch_dir(scratch_root(ctx), "seeds-") as scratch:
            tree = copy_scratch(state.values["checkout"].path, scratch / "work")
            write_files(tree, dict(stubbed))
            run = runner.pytest(tree, tests, "pairs_seeds", "stubbed")
        failing = failing_tests(run, tests)
        if not failing:
            return Outcome(
                "failed", f"{STUB_SURVIVED}: every guarding test passes with {STUB_BODY}"
            )
        return Outcome("ok", data={"failing_when_stubbed": failing})

    def apply(self, ctx: RunContext, state: SpecState, outcomes: dict[str, Outcome]) -> None:
        candidates: dict[str, Candidate] = state.values["pairs_candidates"]
        seeds: list[dict[str, Any]] = []
        for key, outcome in sorted(outcomes.items()):
            if outcome.status == "ok":
                seeds.append(seed_row(state, candidates[key], outcome.data))
            else:
                drop(state, "seeds", key, outcome.reason or outcome.status)
            if outcome.status == "error":  # not the seed's fault: the run must say so
                ctx.error(f"{state.name} {key}: the stub check could not run: {outcome.reason}")
        state.values["pairs_seeds"] = seeds
        count(state, "seeds", len(seeds))
        self.publish(ctx, state)

    def publish(self, ctx: RunContext, state: SpecState) -> None:
        """This spec's seeds into the files of every spec's (also for a spec run elsewhere)."""
        seeds = state.values["pairs_seeds"]
        self.rows[state.name] = seeds
        write_jsonl(ctx.root / ROWS, spec_rows(self.rows))
        self.stats[state.name] = {
            "functions": state.values["pairs_funnel"]["functions"],
            "seeds": len(seeds),
            "dropped": state.values.get("pairs_drops", {}).get("seeds", {}),
        }
        write_json(ctx.root / STATS, self.stats)

    def _candidates(self, ctx: RunContext, state: SpecState) -> list[Candidate]:
        traces: dict[str, FileTrace] = state.values.get("traces", {})
        reached = _reached(traces)
        count(state, "functions", len(reached))
        import_time = {(row[0], row[1]) for trace in traces.values() for row in trace.import_time}
        files = project_files(state)
        kept: list[Candidate] = []
        for (path, qualname), tests in sorted(reached.items()):
            key = f"{path}::{qualname}"
            facts = function_facts(files.get(path, ""), qualname)
            why = self._filter(path, qualname, facts, tests, (path, qualname) in import_time)
            if why is not None or facts is None:
                drop(state, "seeds", key, why or "not found")
                continue
            guarding = dict(sorted(tests.items(), key=lambda t: (t[1], t[0])))
            limited = dict(list(guarding.items())[: self.config.max_guarding_tests])
            kept.append(Candidate(path, qualname, facts, limited))
        return self._sample(ctx, state, deduplicate(state, kept, self.config))

    def _filter(
        self,
        path: str,
        qualname: str,
        facts: FunctionFacts | None,
        tests: dict[str, int],
        at_import: bool,
    ) -> str | None:
        """The first filter ``qualname`` fails, as a drop reason; None when it passes them all."""
        if min(tests.values()) > self.config.max_depth:
            return f"too deep: no passing test reaches it within {self.config.max_depth} calls"
        if facts is None:
            return "not a function: nested, a lambda or not in the module's source"
        return filter_reason(self.config, path, qualname, facts, at_import)

    def _sample(self, ctx: RunContext, state: SpecState, kept: list[Candidate]) -> list[Candidate]:
        return sample(ctx, state, kept, self.num_samples)


def filter_reason(
    config: PairsConfig, path: str, qualname: str, facts: FunctionFacts, at_import: bool
) -> str | None:
    """The first of the seed filters ``qualname`` fails, as a drop reason; None if none."""
    checks = (
        (config.exclude_test_helpers and is_test_helper(path, qualname), "test helper"),
        (config.exclude_import_time and at_import, "run at import time"),
        (config.require_docstring and not facts.docstring, "no docstring"),
        (config.require_return and not facts.returns, "no return or yield"),
        (
            not config.min_lines <= facts.lines <= config.max_lines,
            f"line bounds: {facts.lines} lines, not {config.min_lines}..{config.max_lines}",
        ),
        (
            facts.complexity > config.max_complexity,
            f"complexity: {facts.complexity} above {config.max_complexity}",
        ),
    )
    return next((why for failed, why in checks if failed), None)


def sample(
    ctx: RunContext, state: SpecState, kept: list[Candidate], num_samples: int | None
) -> list[Candidate]:
    """At most ``num_samples`` candidates, drawn with ``--seed``; the others dropped with why."""
    if num_samples is None or len(kept) <= num_samples:
        return kept
    chosen = random.Random(f"{ctx.seed}:{state.name}").sample(kept, num_samples)
    for candidate in kept:
        if candidate not in chosen:
            drop(state, "seeds", candidate.key, f"num samples: over --num-samples {num_samples}")
    return sorted(chosen, key=lambda c: c.key)


def _reached(traces: dict[str, FileTrace]) -> dict[tuple[str, str], dict[str, int]]:
    """(path, qualname) -> passing test -> smallest depth, for every function passing tests run."""
    reached: dict[tuple[str, str], dict[str, int]] = {}
    for trace in traces.values():
        for nodeid, test in trace.tests.items():
            if test.outcome != "passed":
                continue
            for path, qualname, _line, depth in test.calls:
                tests = reached.setdefault((path, qualname), {})
                tests[nodeid] = min(depth, tests.get(nodeid, depth))
    return reached


def deduplicate(state: SpecState, kept: list[Candidate], config: PairsConfig) -> list[Candidate]:
    """Drop exact duplicates (normalised syntax tree), then near ones (token n-grams)."""
    hashes: dict[str, str] = {}
    grams: list[tuple[str, frozenset[tuple[str, ...]]]] = []
    unique: list[Candidate] = []
    for candidate in kept:
        digest = normalised_hash(candidate.facts.source)
        if digest in hashes:
            drop(state, "seeds", candidate.key, f"exact duplicate: of {hashes[digest]}")
            continue
        hashes[digest] = candidate.key
        mine = ngrams(candidate.facts.source, config.ngram_size)
        close = next(
            (
                (k, s)
                for k, g in grams
                if (s := similarity(mine, g)) >= config.near_duplicate_similarity
            ),
            None,
        )
        if close is not None:
            drop(state, "seeds", candidate.key, f"near duplicate: of {close[0]} ({close[1]:.2f})")
            continue
        grams.append((candidate.key, mine))
        unique.append(candidate)
    return unique


def seed_row(state: SpecState, candidate: Candidate, data: dict[str, Any]) -> dict[str, Any]:
    """One line of filtered_functions.jsonl: the seed and where it comes from."""
    where = (state.spec.settings.repository, state.values["checkout"].commit)
    guards = (sorted(candidate.tests), data["failing_when_stubbed"])
    return function_row(state.name, candidate, where, guards)


def function_row(
    spec: str, candidate: Candidate, where: tuple[str, str], guards: tuple[list[str], list[str]]
) -> dict[str, Any]:
    """A seed function's row: spec, (repository, commit), facts, (guarding, failing) tests."""
    facts = candidate.facts
    return {
        "spec": spec,
        "repository": where[0],
        "commit": where[1],
        "path": candidate.path,
        "qualname": candidate.qualname,
        "key": candidate.key,
        "source": facts.source,
        "signature": facts.signature,
        "docstring": facts.docstring,
        "lines": facts.lines,
        "complexity": facts.complexity,
        "guarding_tests": guards[0],
        "failing_when_stubbed": guards[1],
    }
