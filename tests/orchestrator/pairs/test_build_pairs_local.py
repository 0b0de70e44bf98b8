"""``fbench build-pairs`` offline, end to end, on a small git repository the test builds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
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
    assert "![PEP 8 findings](pipeline_report/pep8.png)" in report
    assert (run / "pipeline_report" / "pep8.png").read_bytes().startswith(b"\x89PNG")


def test_rows_load_with_datasets(run: Path) -> None:
    """``datasets.load_dataset("json", ...)`` reads the rows, one per validated pair."""
    datasets = pytest.importorskip("datasets")
    path = run / "final_dataset" / "instruction_dataset.jsonl"
    loaded = datasets.load_dataset("json", data_files=str(path), split="train")
    assert loaded.num_rows == 5
    assert set(loaded.column_names) >= {"instruction", "response", "concept", "seed", "model"}


def test_build_pairs_reuses_what_build_cases_cached(textkit: Project, tmp_path: Path) -> None:
    """After build-cases, build-pairs takes scanner, runner and dynamic from the cache."""
    cache = tmp_path / "cache"
    argv = [
        "build-cases",
        "--config-path",
        str(textkit.specs),
        "--output-dir",
        str(tmp_path / "cases"),
    ]
    argv += ["--cache-dir", str(cache), "--debug", "end=dynamic"]
    assert CliRunner().invoke(cli, argv, catch_exceptions=False).exit_code == 0
    pairs = Project(textkit.root, textkit.specs, cache).build_pairs("reuse", "--debug", "end=seeds")
    stages = json.loads((pairs / "metadata_outputs" / "summary.json").read_text())["stages"]
    for name in ("scanner", "runner", "dynamic"):
        assert stages[name]["items"] == stages[name]["cached"] > 0, name
    assert stages["seeds"]["cached"] == 0
    assert stages["seeds"]["items"] > 0
    assert "instruct" not in stages  # end=seeds stops there


def test_clean_refuses_what_is_not_a_run(textkit: Project) -> None:
    """--clean on a directory holding anything but runs exits 2 and deletes nothing."""
    out = textkit.root / "precious"
    (out / "2026-01-01").mkdir(parents=True)
    (out / "2026-01-01" / "notes.txt").write_text("mine")
    argv = ["build-pairs", "--config-path", str(textkit.specs), "--output-dir", str(out), "--clean"]
    result = CliRunner().invoke(cli, argv)
    assert result.exit_code == 2
    assert "is not a featurebench run" in result.output
    assert (out / "2026-01-01" / "notes.txt").read_text() == "mine"


def test_clean_empties_earlier_runs(textkit: Project) -> None:
    """A second run with --clean leaves only itself in the output directory."""
    first = textkit.build_pairs("cleaned", "--debug", "end=seeds")
    second = textkit.build_pairs("cleaned", "--debug", "end=seeds", "--clean")
    assert not first.exists() or first == second
    assert [p for day in (textkit.root / "cleaned").glob("[0-9]*") for p in day.iterdir()] == [
        second
    ]


def test_a_bad_pairs_key_stops_the_run_before_it_starts(textkit: Project, tmp_path: Path) -> None:
    """A mistake in [pairs] is a one-line error with exit status 2 and no run directory."""
    config = tmp_path / "config.toml"
    config.write_text("[pairs]\nmax_complexity = -1\n")
    argv = ["build-pairs", "--config-path", str(textkit.specs), "--global-config-path", str(config)]
    result = CliRunner().invoke(cli, [*argv, "--output-dir", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"fbench: error: {config}: [pairs] max_complexity: expected 1 to 1000, got -1"
    )
    assert not (tmp_path / "out").exists()


def test_resume_finishes_a_run_stopped_after_seeds(textkit: Project) -> None:
    """--resume on a run that stopped after seeds takes them from its journal and finishes."""
    stopped = textkit.build_pairs("resumed", "--debug", "end=seeds")
    assert not (stopped / "final_dataset" / "instruction_dataset.jsonl").exists()
    resumed = textkit.build_pairs("resumed", "--resume", str(stopped))
    assert resumed == stopped
    rows = jsonl(stopped / "final_dataset" / "instruction_dataset.jsonl")
    assert {row["seed"]["qualname"] for row in rows} == SEEDS
    assert (
        json.loads((stopped / "metadata_outputs" / "pairs_config.json").read_text())["max_depth"]
        == 2
    )


def test_num_samples_caps_the_seeds_and_says_which_it_left_out(textkit: Project) -> None:
    """--num-samples 2 draws two of the six candidates for the stub check; the rest say why."""
    run = textkit.build_pairs("sampled", "--num-samples", "2", "--debug", "end=seeds")
    seeds = {seed["qualname"] for seed in jsonl(run / "seed_output" / "filtered_functions.jsonl")}
    stats = json.loads((run / "seed_output" / "stats.json").read_text())["SPECS_TEXTKIT"]
    reasons = {key.split("::")[1]: why.split(":")[0] for key, why in stats["dropped"].items()}
    sampled_out = {name for name, why in reasons.items() if why == "num samples"}
    drawn = (SEEDS | {"lenient"}) - sampled_out
    assert len(drawn) == 2
    assert seeds == drawn - {"lenient"}
    assert ("lenient" in drawn) == (reasons.get("lenient") == "stub survives")
