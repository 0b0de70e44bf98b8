"""``fbench build-pairs`` offline, end to end, on a small git repository the test builds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.orchestrator.pairs.text_project import SEEDS, Project, jsonl


@pytest.fixture(scope="module")
def run(textkit: Project) -> Path:
    return textkit.build_pairs("offline")


def test_offline_mode_writes_validated_pairs(run: Path) -> None:
    """Seeds guarded by failing-when-stubbed tests become validated docstring-to-code pairs."""
    rows = jsonl(run / "final_dataset" / "instruction_dataset.jsonl")
    qualnames = {row["seed"]["qualname"] for row in rows}
    assert qualnames == SEEDS
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
    assert "| functions | 11 | 0 |" in report
    assert "| seeds | 5 | 6 |" in report
    assert "| final | 5 | 0 |" in report
    assert "- seeds: no docstring (2)" in report


def test_rows_load_with_datasets(run: Path) -> None:
    """``datasets.load_dataset("json", ...)`` reads the rows, one per validated pair."""
    datasets = pytest.importorskip("datasets")
    path = run / "final_dataset" / "instruction_dataset.jsonl"
    loaded = datasets.load_dataset("json", data_files=str(path), split="train")
    assert loaded.num_rows == 5
    assert set(loaded.column_names) >= {"instruction", "response", "concept", "seed", "model"}
