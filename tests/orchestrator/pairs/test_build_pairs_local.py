"""``fbench build-pairs`` offline, end to end, on a small git repository the test builds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from tests.orchestrator.pairs.text_project import make_text_project


def build_pairs(specs: Path, out: Path, cache: Path, *args: str) -> Path:
    """Run build-pairs through the CLI; returns the run directory."""
    result = CliRunner().invoke(
        cli,
        ["build-pairs", "--config-path", str(specs), "--output-dir", str(out),
         "--cache-dir", str(cache), "--jobs", "2", *args],
        catch_exceptions=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return sorted(p for day in out.iterdir() for p in day.iterdir())[-1]


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pairs")
    make_text_project(root / "textkit")
    specs = root / "specs.py"
    specs.write_text(
        f"SPECS_TEXTKIT = {{'repository': {str(root / 'textkit')!r}, 'pip_packages': ['pytest']}}\n"
    )
    return build_pairs(specs, root / "out", root / "cache")


def test_offline_mode_writes_validated_pairs(run: Path) -> None:
    """Seeds guarded by failing-when-stubbed tests become validated docstring-to-code pairs."""
    rows = jsonl(run / "final_dataset" / "instruction_dataset.jsonl")
    qualnames = {row["seed"]["qualname"] for row in rows}
    assert qualnames == {"Counter.feed", "count_words", "same_slug"}
    feed = next(row for row in rows if row["seed"]["qualname"] == "Counter.feed")
    assert feed["validation"] == "repo-tests"
    assert "def feed(self, text):" in feed["instruction"]
    assert feed["response"].startswith("def feed(self, text):")
    assert feed["guarding_tests"] == ["tests/test_core.py::test_counter"]
    assert feed["metrics"]["complexity"] == 1


def test_every_filter_is_a_recorded_drop_reason(run: Path) -> None:
    """The stub check, the docstring, line bounds, import time and duplicates each drop a seed."""
    dropped = json.loads((run / "seed_output" / "stats.json").read_text())["SPECS_TEXTKIT"][
        "dropped"
    ]
    prefix = "textkit/core.py::"
    assert dropped[prefix + "lenient"].startswith("stub survives")
    assert dropped[prefix + "shout"] == "no docstring"
    assert dropped[prefix + "Counter.__init__"] == "no docstring"
    assert dropped[prefix + "one"].startswith("line bounds")
    assert dropped[prefix + "make_default"] == "run at import time"
    assert dropped[prefix + "slugify"] == f"exact duplicate: of {prefix}same_slug"


def test_the_run_directory_has_the_seeds_layout(run: Path) -> None:
    """Every file of the seed's layout is there, and the report shows the funnel."""
    for name in (
        "seed_output/filtered_functions.jsonl",
        "self_oss_output/concepts.jsonl",
        "self_oss_output/instructions.jsonl",
        "self_oss_output/responses.jsonl",
        "validation_output/results.jsonl",
        "validation_output/validation_stats.json",
        "final_dataset/stats.json",
        "pipeline.log",
    ):
        assert (run / name).is_file(), name
    report = (run / "pipeline_report.md").read_text()
    assert "| functions | 9 | 0 |" in report
    assert "| seeds | 3 | 6 |" in report
    assert "| final | 3 | 0 |" in report
    assert "- seeds: no docstring (2)" in report


def test_rows_load_with_datasets(run: Path) -> None:
    """``datasets.load_dataset("json", ...)`` reads the rows, one per validated pair."""
    datasets = pytest.importorskip("datasets")
    path = run / "final_dataset" / "instruction_dataset.jsonl"
    loaded = datasets.load_dataset("json", data_files=str(path), split="train")
    assert loaded.num_rows == 3
    assert set(loaded.column_names) >= {"instruction", "response", "concept", "seed", "model"}
