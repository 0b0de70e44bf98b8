"""What the pairs stages share: the funnel they fill, test runs on scratch trees, output files."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import msgspec

from orchestrator.extract.worktrees import python_files
from orchestrator.pipeline.engine import RunContext, SpecState
from orchestrator.pipeline.pytest_runs import PytestRun
from orchestrator.pipeline.storage import write_atomic
from orchestrator.stages.data import _project_paths, import_roots
from orchestrator.stages.data_checks import Runner

REPO_TESTS = "repo-tests"  # validated by the repository's guarding tests
SELF_TESTS = "self-tests"  # validated by tests written for the instruction (--source)
FUNNEL = ("functions", "seeds", "concepts", "instructions", "responses", "validated", "final")
_json = msgspec.json.Encoder(order="sorted")


def count(state: SpecState, step: str, value: int) -> None:
    """Set how many items reached funnel ``step`` for this spec."""
    state.values.setdefault("pairs_funnel", {})[step] = value


def drop(state: SpecState, step: str, key: str, reason: str) -> None:
    """Record that ``key`` went no further than ``step``, and why (the reason's head is counted)."""
    state.values.setdefault("pairs_drops", {}).setdefault(step, {})[key] = reason


def reasons(states: list[SpecState], step: str) -> Counter[str]:
    """Drop reasons at ``step`` over every spec, by their part before the first colon."""
    found: Counter[str] = Counter()
    for state in states:
        for reason in state.values.get("pairs_drops", {}).get(step, {}).values():
            found[reason.split(":", 1)[0]] += 1
    return found


def project_files(state: SpecState) -> dict[str, str]:
    """The checkout's .py files, read once per spec."""
    if "pairs_files" not in state.values:
        state.values["pairs_files"] = python_files(state.values["checkout"].path)
    files: dict[str, str] = state.values["pairs_files"]
    return files


def test_runner(ctx: RunContext, state: SpecState, label: str) -> Runner:
    """The data stage's runner: the spec's environment, the scratch tree first on sys.path."""
    files = project_files(state)
    return Runner(
        state.values["environment"],
        state.spec.settings,
        ctx.logs_dir,
        state.name,
        label,
        import_roots(files, _project_paths(state)),
    )


def failing_tests(run: PytestRun, tests: list[str]) -> list[str]:
    """The tests among ``tests`` that failed, errored or did not run at all."""
    outcomes = run.outcomes()
    return [
        test for test in tests if outcomes.get(test, "missing") in ("failed", "error", "missing")
    ]


def write_jsonl(path: Path, rows: list[Any]) -> None:
    """One JSON object per line (keys sorted), written atomically."""
    write_atomic(path, b"".join(_json.encode(row) + b"\n" for row in rows))


def spec_rows(by_spec: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Rows of every spec so far, in spec order then key order."""
    return [row for name in sorted(by_spec) for row in by_spec[name]]
