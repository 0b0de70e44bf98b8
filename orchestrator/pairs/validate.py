"""Stage validate: splice each response in, run its guarding tests, grade its quality.

The response replaces the seed's definition (first decorator to last line,
found by syntax-tree position, re-indented to the definition's column) on a
scratch copy of the checkout. Its guarding tests run there, in the spec's
environment under the sandbox: the response is model output, untrusted like
the repository's code. A pair is validated only when every guarding test
passes and every check of ``required_checks`` passes.
"""

from __future__ import annotations

import ast
import textwrap
from collections import Counter
from typing import Any

import msgspec

from orchestrator.errors import StageError
from orchestrator.extract.masking import SourceText, find_definition
from orchestrator.extract.worktrees import copy_scratch, scratch_dir, write_files
from orchestrator.llm.prompts import load_prompt
from orchestrator.pairs import common
from orchestrator.pairs.config import PairsConfig
from orchestrator.pairs.quality import quality
from orchestrator.pipeline.engine import Outcome, RunContext, SpecState, WorkItem
from orchestrator.pipeline.storage import write_json
from orchestrator.stages.data import scratch_root

RESULTS = "validation_output/results.jsonl"
STATS = "validation_output/validation_stats.json"

VERDICT_KEYS = (
    "max_pep8_issues",
    "max_docstring_issues",
    "min_type_hint_coverage",
    "max_complexity",
    "required_checks",
    "timeout_validate",
)


class SpliceError(Exception):
    """The response cannot take the seed's place."""


class ValidateStage:
    name = "validate"
    version = 1
    depends_on: tuple[str, ...] = ("dynamic",)
    cache_key: str | None = "data_cache"  # the pairs stages' counterpart of the data stage
    published = (RESULTS, STATS)  # the files of every spec's rows that publish writes

    def __init__(self, config: PairsConfig) -> None:
        self.config = config
        self.rows: dict[str, list[dict[str, Any]]] = {}
        self.stats: dict[str, dict[str, Any]] = {}

    def items(self, ctx: RunContext, state: SpecState) -> list[WorkItem]:
        generated: dict[str, dict[str, Any]] = state.values.get("pairs_generated", {})
        seeds = {s["key"]: s for s in state.values.get("pairs_seeds", [])}
        spec = state.spec.settings
        common = {
            "test_cmd": spec.test_cmd,
            "timeout_run": spec.timeout_run,
            # What a verdict depends on: the quality bounds and the time limit, no seed filter.
            **{key: getattr(self.config, key) for key in VERDICT_KEYS},
            "llm": ctx.llm.identity(load_prompt("pairs_alignment"))
            if ctx.llm is not None
            else None,
        }
        return [
            WorkItem(
                key,
                {
                    "path": seeds[key]["path"],
                    "qualname": seeds[key]["qualname"],
                    "signature": seeds[key]["signature"],
                    "tests": seeds[key]["guarding_tests"],
                    "instruction": result["instruction"],
                    "response": result["response"],
                    **common,
                },
            )
            for key, result in sorted(generated.items())
            if result.get("response") is not None
        ]

    def run(self, ctx: RunContext, state: SpecState, item: WorkItem) -> Outcome:
        inputs = item.inputs
        metrics = quality(inputs["response"], inputs, self.config, inputs["instruction"], ctx.llm)
        try:
            changed = splice(
                common.project_files(state), inputs["path"], inputs["qualname"], inputs["response"]
            )
        except SpliceError as exc:
            return Outcome("failed", f"splice: {exc}", data={"metrics": metrics})
        runner = common.test_runner(ctx, state, item.key)
        # The response's own time limit: one that sleeps forever must not hold the run.
        runner.spec = msgspec.structs.replace(runner.spec, timeout_run=self.config.timeout_validate)
        with scratch_dir(scratch_root(ctx), "validate-") as scratch:
            tree = copy_scratch(state.values["checkout"].path, scratch / "work")
            write_files(tree, dict(changed))
            try:
                run = runner.pytest(tree, inputs["tests"], "pairs_validate", "response")
            except StageError as exc:  # the seed's tests passed: the response hung or crashed them
                return Outcome("failed", f"guarding tests fail: {exc}", data={"metrics": metrics})
        failing = common.failing_tests(run, inputs["tests"])
        data = {"metrics": metrics, "failing": failing, "tests": len(inputs["tests"])}
        if failing:
            return Outcome("failed", f"guarding tests fail: {', '.join(failing[:3])}", data=data)
        missed = [name for name in self.config.required_checks if not metrics[name]["passed"]]
        if missed:
            return Outcome("failed", f"quality: {', '.join(missed)} below threshold", data=data)
        return Outcome("ok", data=data)

    def apply(self, ctx: RunContext, state: SpecState, outcomes: dict[str, Outcome]) -> None:
        results = []
        for key, outcome in sorted(outcomes.items()):
            if outcome.status != "ok":
                common.drop(state, "validated", key, outcome.reason or outcome.status)
            if outcome.status == "error":
                ctx.error(f"{state.name} {key}: validation could not run: {outcome.reason}")
            results.append(
                {
                    "spec": state.name,
                    "key": key,
                    "status": outcome.status,
                    "reason": outcome.reason,
                    **(outcome.data or {}),
                }
            )
        state.values["pairs_results"] = results
        passed = [r for r in results if r["status"] == "ok"]
        state.values["pairs_validated"] = {r["key"]: r for r in passed}
        common.count(state, "validated", len(passed))
        self.publish(ctx, state)

    def publish(self, ctx: RunContext, state: SpecState) -> None:
        """This spec's results into the files of every spec's (also for a spec run elsewhere)."""
        results = state.values["pairs_results"]
        self.rows[state.name] = results
        common.write_jsonl(ctx.root / RESULTS, common.spec_rows(self.rows))
        self.stats[state.name] = validation_stats(results)
        write_json(ctx.root / STATS, self.stats)


def splice(files: dict[str, str], path: str, qualname: str, response: str) -> dict[str, str]:
    """``{path: text}`` with ``response`` in place of ``qualname``'s definition."""
    if path not in files:
        raise SpliceError(f"{path}: no such module")
    src = SourceText(files[path], path)
    found = find_definition(src.tree, qualname)
    node = None if found is None else found[0][-1]
    if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        raise SpliceError(f"{path}: no function {qualname}")
    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    last = node.end_lineno or node.lineno
    line = src.lines[first - 1]
    indent = line[: len(line) - len(line.lstrip())]
    body = textwrap.indent(textwrap.dedent(response).rstrip() + "\n", indent)
    text = src.text[: src.line_start(first)] + body + src.text[src.line_start(last + 1) :]
    try:
        ast.parse(text)
    except SyntaxError as exc:
        raise SpliceError(f"{path} does not parse with the response in: {exc.msg}") from None
    return {path: text}


def validation_stats(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Pass counts, failure reasons and each check's pass count, for one spec."""
    checks: Counter[str] = Counter()
    for result in results:
        for name, metric in result.get("metrics", {}).items():
            checks[name] += bool(metric["passed"])
    reasons = Counter((r["reason"] or "").split(":", 1)[0] for r in results if r["status"] != "ok")
    passed = sum(1 for r in results if r["status"] == "ok")
    return {
        "responses": len(results),
        "validated": passed,
        "pass_rate": round(passed / len(results), 4) if results else 0.0,
        "reasons": dict(reasons),
        "checks_passed": dict(checks),
    }
