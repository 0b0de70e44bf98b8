"""Stage validate of a ``--source`` run: each response against its self-tests, in the sandbox.

The results, the quality checks and the files written are the repository
validation's (:class:`~orchestrator.pairs.validate.ValidateStage`, whose
``apply`` this reuses); only how a response is run differs: see
:mod:`orchestrator.pairs.selftests`.
"""

from __future__ import annotations

import ast
import hashlib
from typing import Any

from orchestrator.llm.prompts import load_prompt
from orchestrator.pairs.quality import quality
from orchestrator.pairs.selftests import (
    checks,
    identity,
    run_self_tests,
    solution_module,
    verdict,
)
from orchestrator.pairs.validate import VERDICT_KEYS, ValidateStage
from orchestrator.pipeline.engine import Outcome, RunContext, SpecState, WorkItem
from orchestrator.stages.data import scratch_root

LIMIT_KEYS = ("timeout_self_tests", "self_tests_memory_mb")
_TESTS_PREAMBLE = "import solution\nfrom solution import *\n\n"


class SelfTestsStage(ValidateStage):
    name = "validate"
    version = 1
    depends_on: tuple[str, ...] = ()  # every input of a verdict is in its item

    def items(self, ctx: RunContext, state: SpecState) -> list[WorkItem]:
        generated: dict[str, dict[str, Any]] = state.values.get("pairs_generated", {})
        seeds = {s["key"]: s for s in state.values.get("pairs_seeds", [])}
        common = {
            **{key: getattr(self.config, key) for key in (*VERDICT_KEYS, *LIMIT_KEYS)},
            "runtime": identity(),
            "llm": ctx.llm.identity(load_prompt("pairs_alignment")) if ctx.llm else None,
        }
        return [
            WorkItem(
                key,
                {
                    "signature": seeds[key]["signature"],
                    "imports": seeds[key]["imports"],
                    "instruction": result["instruction"],
                    "response": result["response"],
                    "tests": result.get("tests"),
                    "tests_reason": result.get("tests_reason"),
                    "tests_error": bool(result.get("tests_error")),
                    **common,
                },
            )
            for key, result in sorted(generated.items())
            if result.get("response") is not None
        ]

    def run(self, ctx: RunContext, state: SpecState, item: WorkItem) -> Outcome:
        inputs = item.inputs
        if inputs["tests_error"]:  # the endpoint failed: not the pair's fault, asked again later
            return Outcome("error", inputs["tests_reason"])
        metrics = quality(inputs["response"], inputs, self.config, inputs["instruction"], ctx.llm)
        if inputs["tests"] is None:
            return Outcome("failed", inputs["tests_reason"], data={"metrics": metrics})
        files = {
            "solution.py": solution_module(inputs["imports"], inputs["response"]),
            "test_solution.py": _TESTS_PREAMBLE + inputs["tests"],
        }
        timeout = self.config.timeout_self_tests
        log = ctx.logs_dir / "self_tests" / f"{hashlib.sha256(item.key.encode()).hexdigest()}.log"
        result = run_self_tests(
            ctx.sandbox, scratch_root(ctx), files, timeout, self.config.self_tests_memory_mb, log
        )
        why, failing = verdict(result, timeout)
        data = {"metrics": metrics, "failing": failing, "tests": checks(ast.parse(inputs["tests"]))}
        if why is not None:
            return Outcome("failed", why, data=data)
        missed = [name for name in self.config.required_checks if not metrics[name]["passed"]]
        if missed:
            return Outcome("failed", f"quality: {', '.join(missed)} below threshold", data=data)
        return Outcome("ok", data=data)
