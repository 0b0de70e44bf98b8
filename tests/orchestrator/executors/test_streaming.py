"""``--executor local`` streams each spec through its stages: no spec waits at a stage
for the slowest, and the cases are the bytes the stage-by-stage order makes."""

from __future__ import annotations

from pathlib import Path

from tests.orchestrator.executors.runs import (
    build,
    case_bytes,
    feature_specs,
    waiting_spec,
    write_specs,
)


def test_streaming_makes_the_same_cases_as_the_stage_by_stage_order(tmp_path: Path) -> None:
    """Three specs, each run with its own cache: bytes of every case file agree."""
    specs = write_specs(
        tmp_path / "specs.py", feature_specs(tmp_path, ("geom", "shapes", "solids"))
    )
    streamed = build(specs, tmp_path / "streamed", tmp_path / "cache-a", "--jobs", "3")
    staged = build(
        specs, tmp_path / "staged", tmp_path / "cache-b", "--jobs", "3", "--executor", "stagewise"
    )
    streamed_cases, staged_cases = case_bytes(streamed), case_bytes(staged)
    assert streamed_cases == staged_cases
    repositories = {name.split("/")[0].split(".")[0] for name in streamed_cases}
    assert repositories == {"local__geom", "local__shapes", "local__solids"}
    summary = (streamed / "logs" / "summary.txt").read_text()
    assert summary.count("-> ") == 3  # one line per spec, as before
    assert (streamed / "pipeline_report.md").is_file()


def test_fast_specs_have_cases_before_the_slow_spec_leaves_its_runner(tmp_path: Path) -> None:
    """The slow spec's one test waits (up to 5 minutes) for both fast specs' cases; under a
    per-stage barrier those cases could only come after the slow runner ended."""
    out = tmp_path / "out"
    names = ("geom", "shapes")
    specs = feature_specs(tmp_path, names)
    patterns = [f"{out}/*/*/cases/local__{name}.*/*" for name in names]
    specs["SPECS_WAITS"] = waiting_spec(tmp_path, patterns, limit=300)
    path = write_specs(tmp_path / "specs.py", specs)
    run = build(path, out, tmp_path / "cache", "--jobs", "3", "--no-sandbox")
    runner_logs = [
        p for p in (run / "logs" / "test_runner" / "SPECS_WAITS").rglob("*") if p.is_file()
    ]
    assert runner_logs, "the slow spec's test never ran"
    slow_runner_ended = max(p.stat().st_mtime for p in runner_logs)
    for name in names:
        cases = [p for p in run.glob(f"cases/local__{name}.*/*") if not p.name.startswith(".")]
        assert cases, f"no {name} cases"
        first_case = min(p.stat().st_mtime for p in cases)
        assert first_case < slow_runner_ended, f"{name}'s cases waited for the slow spec"
