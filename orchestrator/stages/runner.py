"""Stage runner: run every candidate test file and keep the ones that pass.

A file passes only when every test in it passed (skips and xfails allowed)
and pytest's exit code agrees. Failing tests are rerun ``rerun_failed``
times: a test that passes on a rerun is flaky, and recorded by name. A
timeout or a crash is an infrastructure error, retried on the next run.
"""

from __future__ import annotations

from orchestrator.environments import Environment
from orchestrator.pipeline.engine import Outcome, RunContext, SpecState, WorkItem
from orchestrator.pipeline.pytest_runs import PytestRun, run_pytest, seconds
from orchestrator.pipeline.repos import Checkout
from orchestrator.pipeline.status import update_runner_status
from orchestrator.pipeline.storage import file_slug
from orchestrator.stages.data_status import note_dropped

_BAD = ("failed", "error")


class RunnerStage:
    name = "runner"
    version = 1
    depends_on: tuple[str, ...] = ("image",)
    cache_key: str | None = "test_cache"

    def items(self, ctx: RunContext, state: SpecState) -> list[WorkItem]:
        spec = state.spec.settings
        files = sorted(set(state.values.get("f2p", [])) | set(state.values.get("p2p", [])))
        common = {
            "test_cmd": spec.test_cmd,
            "timeout_run": spec.timeout_run,
            "timeout_one": spec.timeout_one,
            "rerun_failed": spec.rerun_failed,
        }
        return [WorkItem(path, {"file": path, **common}) for path in files]

    def run(self, ctx: RunContext, state: SpecState, item: WorkItem) -> Outcome:
        first = self._pytest(ctx, state, item.key, [item.key], attempt=0)
        if not first.complete:
            return Outcome("error", first.why_incomplete())
        tests = first.outcomes()
        failing = sorted(nodeid for nodeid, outcome in tests.items() if outcome in _BAD)
        flaky = self._rerun(ctx, state, item.key, failing)
        data = {"tests": tests, "flaky": flaky, "returncode": first.result.returncode}
        return _verdict(first, tests, failing, flaky, data)

    def _rerun(self, ctx: RunContext, state: SpecState, file: str, failing: list[str]) -> list[str]:
        flaky: list[str] = []
        remaining = list(failing)
        for attempt in range(1, state.spec.settings.rerun_failed + 1):
            if not remaining:
                break
            again = self._pytest(ctx, state, file, remaining, attempt).outcomes()
            passed = [nodeid for nodeid in remaining if again.get(nodeid) == "passed"]
            flaky += passed
            remaining = [nodeid for nodeid in remaining if nodeid not in passed]
        return sorted(flaky)

    def _pytest(
        self, ctx: RunContext, state: SpecState, file: str, targets: list[str], attempt: int
    ) -> PytestRun:
        spec = state.spec.settings
        environment: Environment = state.values["environment"]
        checkout: Checkout = state.values["checkout"]
        stem = file_slug(file) + (f".rerun{attempt}" if attempt else "")
        base = ctx.logs_dir / "test_runner" / state.name / stem
        return run_pytest(
            environment,
            [*spec.test_cmd, *targets],
            repo=checkout.path,
            records=base.with_name(f"{base.name}.jsonl"),
            timeout=seconds(spec.timeout_run),
            log=base.with_name(f"{base.name}.log"),
            extra=["--fb-timeout", str(spec.timeout_one)] if spec.timeout_one else [],
        )

    def apply(self, ctx: RunContext, state: SpecState, outcomes: dict[str, Outcome]) -> None:
        note_dropped(state.values, self.name, outcomes)
        state.values["runner"] = outcomes
        state.values["passed"] = sorted(
            path for path, outcome in outcomes.items() if outcome.status == "ok"
        )
        verdicts = {
            path: {
                "status": outcome.status,
                "reason": outcome.reason,
                "flaky": (outcome.data or {}).get("flaky", []),
            }
            for path, outcome in outcomes.items()
        }
        update_runner_status(ctx.metadata, state.name, verdicts)


def _verdict(
    run: PytestRun,
    tests: dict[str, str],
    failing: list[str],
    flaky: list[str],
    data: dict[str, object],
) -> Outcome:
    if not tests:
        return Outcome("failed", "no tests ran", data=data)
    if failing:
        if set(failing) == set(flaky):
            return Outcome("flaky", f"{len(flaky)} flaky: {', '.join(flaky[:3])}", data=data)
        hard = [nodeid for nodeid in failing if nodeid not in flaky]
        summary = run.summaries().get(hard[0], "")
        return Outcome("failed", f"{len(hard)} failed, first {hard[0]}: {summary}", data=data)
    if run.result.returncode != 0:
        return Outcome(
            "failed", f"exit code {run.result.returncode} though no test failed", data=data
        )
    return Outcome("ok", data=data)
