"""Stage dynamic: trace the files that passed the runner, test by test.

Each passing file runs again with the plugin's ``--fb-trace`` (``test_cmd``
plus ``test_dynamic_cmd``, ``timeout_dynamic``). The traces are kept in the
cache as data and written to ``metadata_outputs/dynamic_trace/{SPECS_NAME}/``
for this run, one JSON file per test file.

Tracing must not change what a test does: a file whose traced outcomes differ
from the runner's (a suite with its own profiler, say) is not used, and the
tests that changed are named in the reason.
"""

from __future__ import annotations

import msgspec

from orchestrator.environments import Environment
from orchestrator.pipeline.engine import Outcome, RunContext, SpecState, WorkItem
from orchestrator.pipeline.pytest_runs import run_pytest, seconds
from orchestrator.pipeline.repos import Checkout
from orchestrator.pipeline.storage import file_slug, write_json
from orchestrator.pipeline.traces import FileTrace
from orchestrator.stages.data_status import note_dropped
from pytest_featurebench import records as rec


class DynamicStage:
    name = "dynamic"
    version = 2  # 2: a file whose outcomes change under tracing is not used
    depends_on: tuple[str, ...] = ("image",)
    cache_key: str | None = "dynamic_cache"

    def items(self, ctx: RunContext, state: SpecState) -> list[WorkItem]:
        spec = state.spec.settings
        common = {
            "test_cmd": spec.test_cmd,
            "test_dynamic_cmd": spec.test_dynamic_cmd,
            "timeout_dynamic": spec.timeout_dynamic,
        }
        return [
            # The runner's outcomes are compared with the traced ones: part of the key.
            WorkItem(path, {"file": path, "expected": runner_outcomes(state, path), **common})
            for path in state.values.get("passed", [])
        ]

    def run(self, ctx: RunContext, state: SpecState, item: WorkItem) -> Outcome:
        spec = state.spec.settings
        environment: Environment = state.values["environment"]
        checkout: Checkout = state.values["checkout"]
        base = ctx.logs_dir / "dynamic_trace" / state.name / file_slug(item.key)
        run = run_pytest(
            environment,
            [*spec.test_cmd, *spec.test_dynamic_cmd, item.key],
            repo=checkout.path,
            warm=True,  # forked from a warm worker where the sandbox allows
            # tests.py and tests.md share a stem: suffixes are added, never replaced
            records=base.with_name(f"{base.name}.jsonl"),
            timeout=seconds(spec.timeout_dynamic),
            log=base.with_name(f"{base.name}.log"),
            extra=["--fb-trace"],
        )
        if not run.complete:
            return Outcome("error", f"tracing {run.why_incomplete()}")
        changed = changed_outcomes(item.inputs["expected"], run.outcomes())
        if changed:
            more = f" (and {len(changed) - 1} more)" if len(changed) > 1 else ""
            summary = run.summaries().get(changed[0][0], "")
            first = f"{changed[0][0]}: {changed[0][1]}" + (f" ({summary})" if summary else "")
            return Outcome("failed", f"tracing changed outcomes: {first}{more}")
        return Outcome("ok", data=trace_data(run.records, run.outcomes()))

    def apply(self, ctx: RunContext, state: SpecState, outcomes: dict[str, Outcome]) -> None:
        note_dropped(state.values, self.name, outcomes)
        traces = {path: out.data for path, out in outcomes.items() if out.status == "ok"}
        state.values["traces"] = {
            path: msgspec.convert(data, FileTrace) for path, data in traces.items()
        }
        folder = ctx.metadata / "dynamic_trace" / state.name
        for path, data in traces.items():
            write_json(folder / f"{file_slug(path)}.json", {"file": path, **data})


def runner_outcomes(state: SpecState, path: str) -> dict[str, str]:
    """The runner's outcome per test of ``path``, flaky tests left out (they may change)."""
    data = state.values["runner"][path].data or {}
    flaky = set(data.get("flaky", []))
    return {t: o for t, o in sorted(data.get("tests", {}).items()) if t not in flaky}


def changed_outcomes(expected: dict[str, str], traced: dict[str, str]) -> list[tuple[str, str]]:
    """Tests whose traced outcome is not the runner's, as (nodeid, "was -> now")."""
    return [
        (nodeid, f"{was} -> {traced.get(nodeid, 'missing')}")
        for nodeid, was in expected.items()
        if traced.get(nodeid) != was
    ]


def trace_data(records: list[rec.AnyRecord], outcomes: dict[str, str]) -> dict[str, object]:
    """Per test: outcome and ``[path, qualname, line, depth]`` rows; import-time rows apart."""
    tests: dict[str, object] = {}
    import_time: dict[str, list[object]] = {}
    for record in records:
        if isinstance(record, rec.CallTrace):
            rows = [[c.path, c.qualname, c.line, c.depth] for c in record.calls]
            outcome = outcomes.get(record.nodeid, "unknown")
            tests[record.nodeid] = {"outcome": outcome, "calls": rows}
        elif isinstance(record, rec.ImportTrace):
            for call in record.calls:
                import_time.setdefault(call.key, [call.path, call.qualname, call.line, call.depth])
    return {"tests": tests, "import_time": sorted(import_time.values())}
