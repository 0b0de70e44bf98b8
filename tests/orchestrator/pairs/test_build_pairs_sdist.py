"""``fbench build-pairs`` offline on a real library from PyPI (cachetools 5.5.2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.orchestrator.pairs.text_project import Project, jsonl

pytestmark = pytest.mark.network

SPECS = Path(__file__).resolve().parents[3] / "specs" / "example_specs.py"


def test_a_real_sdist_gives_validated_pairs(tmp_path: Path) -> None:
    """Sampled seeds are stubbed, fail their tests, and come back validated as pairs."""
    project = Project(tmp_path, SPECS, tmp_path / "cache")
    run = project.build_pairs("out", "--num-samples", "3", "--seed", "7")
    seeds = jsonl(run / "seed_output" / "filtered_functions.jsonl")
    assert len(seeds) == 3
    for seed in seeds:
        assert seed["repository"] == "pypi:cachetools==5.5.2"
        assert seed["failing_when_stubbed"], seed["key"]
        assert set(seed["failing_when_stubbed"]) <= set(seed["guarding_tests"])
    rows = jsonl(run / "final_dataset" / "instruction_dataset.jsonl")
    assert {row["seed"]["qualname"] for row in rows} == {seed["qualname"] for seed in seeds}
    for row in rows:
        assert row["seed"]["source"] == row["response"]
        assert row["instruction"].startswith(
            f"Write the Python function `{row['seed']['qualname'].rsplit('.', 1)[-1]}`"
        )
