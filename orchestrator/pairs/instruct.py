"""Stage instruct: seed -> concept -> instruction -> response (S->C->I->R).

With an ``[llm]`` the three steps are prompts of ``templates/prompts/pairs_*.md``,
sent in batches of ``--batch-size`` (``--delay`` seconds apart, the client's
concurrency within a batch); the client caches every answer, so a rerun sends
no request. The response is the one function of the reply named as the
instruction asks; a reply without it is a drop with its reason. Offline, the
instruction is rendered from the signature, the docstring and the module's
context, and the response is the seed itself: docstring-to-code pairs.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from orchestrator.llm.client import LLM, LLMError
from orchestrator.llm.prompts import load_prompt
from orchestrator.pairs.common import (
    SELF_TESTS,
    count,
    drop,
    project_files,
    spec_rows,
    write_jsonl,
)
from orchestrator.pairs.functions import extract_function, module_context
from orchestrator.pairs.selftests import write_tests
from orchestrator.pipeline.engine import Outcome, RunContext, SpecState, WorkItem

OFFLINE_MODEL = "offline (the seed itself)"
STEPS = ("concepts", "instructions", "responses")
FIELDS = ("concept", "instruction", "response")
LLM_ERROR = "llm error"
FOLDER = "self_oss_output"


class InstructStage:
    name = "instruct"
    version = 1
    depends_on: tuple[str, ...] = ("seeds",)
    cache_key: str | None = None  # cheap offline; with an LLM the client caches each answer
    # The files of every spec's rows that publish writes (tests: a --source run's).
    published = tuple(f"{FOLDER}/{name}.jsonl" for name in (*STEPS, "tests"))

    def __init__(self, batch_size: int = 8, delay: float = 0.0) -> None:
        self.batch_size = batch_size
        self.delay = delay
        self.rows: dict[str, dict[str, list[dict[str, Any]]]] = {step: {} for step in STEPS}
        self.tests: dict[str, list[dict[str, Any]]] = {}

    def items(self, ctx: RunContext, state: SpecState) -> list[WorkItem]:
        seeds = state.values.get("pairs_seeds", [])
        return [WorkItem("seeds", {"seeds": [s["key"] for s in seeds]})] if seeds else []

    def run(self, ctx: RunContext, state: SpecState, item: WorkItem) -> Outcome:
        files = project_files(state) if "checkout" in state.values else {}  # none: --source
        seeds = state.values["pairs_seeds"]
        results: dict[str, dict[str, Any]] = {}
        for start in range(0, len(seeds), self.batch_size):
            if start and self.delay:
                time.sleep(self.delay)  # the endpoint's rate limit, between batches
            batch = seeds[start : start + self.batch_size]
            with ThreadPoolExecutor(max_workers=len(batch)) as pool:
                done = pool.map(lambda seed: generate(ctx.llm, seed, files), batch)
            results.update(zip((s["key"] for s in batch), done, strict=True))
        return Outcome("ok", data=results)

    def apply(self, ctx: RunContext, state: SpecState, outcomes: dict[str, Outcome]) -> None:
        results: dict[str, dict[str, Any]] = outcomes["seeds"].data if outcomes else {}
        for key, result in sorted(results.items()):
            if result.get("reason"):
                drop(state, result["step"], key, result["reason"])
            if str(result.get("reason")).startswith(LLM_ERROR):  # the endpoint's, not the seed's
                ctx.error(f"{state.name} {key}: {result['reason']}")
        state.values["pairs_generated"] = results
        self.publish(ctx, state)

    def publish(self, ctx: RunContext, state: SpecState) -> None:
        """This spec's rows into the files of every spec's (also for a spec run elsewhere)."""
        results: dict[str, dict[str, Any]] = state.values["pairs_generated"]
        for step, field in zip(STEPS, FIELDS, strict=True):
            rows = [
                {"spec": state.name, "key": key, field: result[field]}
                for key, result in sorted(results.items())
                if result.get(field) is not None
            ]
            count(state, step, len(rows))
            self.rows[step][state.name] = rows
            write_jsonl(ctx.root / FOLDER / f"{step}.jsonl", spec_rows(self.rows[step]))
        if any("tests" in result for result in results.values()):  # self-tests: what was written
            self.tests[state.name] = [
                {"spec": state.name, "key": key, **{k: v for k, v in r.items() if "tests" in k}}
                for key, r in sorted(results.items())
                if "tests" in r
            ]
            write_jsonl(ctx.root / FOLDER / "tests.jsonl", spec_rows(self.tests))


def generate(llm: LLM | None, seed: dict[str, Any], files: dict[str, str]) -> dict[str, Any]:
    """Concept, instruction and response for one seed; ``step`` and ``reason`` when dropped.

    A ``--source`` seed (``validation = "self-tests"``) also gets the tests of its
    instruction: see :mod:`orchestrator.pairs.selftests`.
    """
    result = _generate(llm, seed, files)
    if seed.get("validation") == SELF_TESTS and result.get("response") is not None:
        result.update(write_tests(llm, seed, result["instruction"]))
    return result


def _generate(llm: LLM | None, seed: dict[str, Any], files: dict[str, str]) -> dict[str, Any]:
    context = seed.get("context") or module_context(
        files.get(seed["path"], ""), seed["path"], seed["qualname"]
    )
    name = seed["qualname"].rsplit(".", 1)[-1]
    values = {
        "name": name,
        "signature": seed["signature"],
        "docstring": seed["docstring"] or "",
        "context": context,
        "path": seed["path"],
        "repository": seed["repository"],
        "source": seed["source"],
    }
    if llm is None:
        instruction = render("pairs_offline_instruction", values)
        concept = (seed["docstring"] or "").strip().split("\n\n")[0]
        return {
            "concept": concept,
            "instruction": instruction,
            "response": seed["source"],
            "model": OFFLINE_MODEL,
        }
    result: dict[str, Any] = {"model": llm.config.model}
    try:
        return _ask(llm, values, result)
    except LLMError as exc:  # the step whose answer is missing is where the seed stopped
        step = next(s for s, f in zip(STEPS, FIELDS, strict=True) if f not in result)
        return {**result, "step": step, "reason": f"{LLM_ERROR}: {exc}"}


def _ask(llm: LLM, values: dict[str, str], result: dict[str, Any]) -> dict[str, Any]:
    """Fill ``result`` step by step, so that a failure shows how far it got."""
    result["concept"] = llm.complete(load_prompt("pairs_concept"), values).strip()
    instruction = llm.complete(
        load_prompt("pairs_instruction"), {**values, "concept": result["concept"]}
    ).strip()
    if values["signature"] not in instruction:  # the response must fit the seed's place
        instruction += f"\n\nDefine it with exactly this signature:\n\n    {values['signature']}\n"
    result["instruction"] = instruction
    reply = llm.complete(load_prompt("pairs_response"), {"instruction": instruction})
    response, why = extract_function(reply, values["name"])
    result["reply"] = reply
    if response is None:
        return {**result, "step": "responses", "reason": why}
    return {**result, "response": response}


def render(prompt: str, values: dict[str, str]) -> str:
    """A one-section template of ``templates/prompts`` filled in, as plain text."""
    messages = load_prompt(prompt).render(values)
    return "\n".join(m["content"] for m in messages).strip() + "\n"
