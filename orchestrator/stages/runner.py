"""Stage runner: run every candidate test file and keep the ones that pass.

A file passes only when every test in it passed (skips and xfails allowed)
and pytest's exit code agrees. Failing tests are rerun alone ``rerun_failed``
times; when one passes alone, the whole file runs once more, which tells a
flaky test (it passes there too, sometimes) from an order-dependent one (it
fails again whenever the tests before it run first); see
:mod:`orchestrator.stages.stability`. Either is recorded by name and kind,
and the file is left out. A timeout or a crash is an infrastructure error,
retried on the next run.
"""

from __future__ import annotations

from orchestrator.environments import Environment
from orchestrator.pipeline.engine import Outcome, RunContext, SpecState, WorkItem
from orchestrator.pipeline.pytest_runs import PytestRun, run_pytest, seconds
from orchestrator.pipeline.repos import Checkout
from orchestrator.pipeline.status import update_runner_status
from orchestrator.pipeline.storage import file_slug
from orchestrator.stages.data_status import note_dropped
from orchestrator.stages.stability import Kind, describe, unstable_tests

_BAD = ("failed", "error")


class RunnerStage:
    name = "runner"
    version = 2  # 2: flaky and order-dependent tests told apart
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
        unstable = self._rerun(ctx, state, item.key, tests, failing)
        data = {
            "tests": tests,
            "flaky": sorted(unstable),
            "unstable": unstable,
            "returncode": first.result.returncode,
        }
        return _verdict(first, tests, failing, unstable, data)

    def _rerun(
        self,
        ctx: RunContext,
        state: SpecState,
        file: str,
        tests: dict[str, str],
        failing: list[str],
    ) -> dict[str, Kind]:
        """The failing tests that are flaky or order-dependent, from reruns alone and whole."""
        alone: list[dict[str, str]] = []
        remaining = list(failing)
        for attempt in range(1, state.spec.settings.rerun_failed + 1):
            if not remaining:
                break
            alone.append(self._pytest(ctx, state, file, remaining, attempt).outcomes())
            remaining = [nodeid for nodeid in remaining if alone[-1].get(nodeid) != "passed"]
        usual = [tests]
        if len(remaining) < len(failing):  # one passed alone: is it the order, or chance?
            again = self._pytest(ctx, state, file, [file], len(alone) + 1)
            if again.complete:
                usual.append(again.outcomes())
        return unstable_tests(usual, alone, failing)

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
            warm=True,  # forked from a warm worker where the sandbox allows
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
                "unstable": (outcome.data or {}).get("unstable", {}),
            }
            for path, outcome in outcomes.items()
        }
        update_runner_status(ctx.metadata, state.name, verdicts)


def _verdict(
    run: PytestRun,
    tests: dict[str, str],
    failing: list[str],
    unstable: dict[str, Kind],
    data: dict[str, object],
) -> Outcome:
    if not tests:
        return Outcome("failed", "no tests ran", data=data)
    if failing:
        if set(failing) == set(unstable):
            shown = dict(sorted(unstable.items())[:3])
            return Outcome("flaky", f"{len(unstable)} unstable: {describe(shown)}", data=data)
        hard = [nodeid for nodeid in failing if nodeid not in unstable]
        summary = run.summaries().get(hard[0], "")
        return Outcome("failed", f"{len(hard)} failed, first {hard[0]}: {summary}", data=data)
    if run.result.returncode != 0:
        return Outcome(
            "failed", f"exit code {run.result.returncode} though no test failed", data=data
        )
    return Outcome("ok", data=data)
