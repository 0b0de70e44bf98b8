"""``fbench build-pairs --source``: functions from JSONL and Parquet files, validated by self-tests."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from tests.orchestrator.pairs.source_files import (
    FAILED,
    ROWS,
    SEED_DROPS,
    VALIDATED,
    SourceRun,
    hostile_module,
    write_jsonl,
    write_parquet,
)
from tests.orchestrator.pairs.text_project import jsonl
from tests.support.llm_server import serve


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> SourceRun:
    return SourceRun(tmp_path_factory.mktemp("source"))


@pytest.fixture(scope="module")
def jsonl_run(runner: SourceRun) -> Path:
    source = write_jsonl(runner.root / "files.jsonl", ROWS)
    return runner.build(f"jsonl:{source}", "jsonl")


def test_offline_self_tests_validate_what_the_examples_support(jsonl_run: Path) -> None:
    """A function whose doctest examples hold is a pair; wrong examples, none, or a missing
    import each fail with their reason; methods, undocumented and import-time ones are no seeds."""
    rows = jsonl(jsonl_run / "final_dataset" / "instruction_dataset.jsonl")
    assert {row["seed"]["qualname"] for row in rows} == VALIDATED
    row = rows[0]
    assert row["validation"] == "self-tests"
    assert row["guarding_tests"] == []
    assert 'slugify("Hello, World")' in row["self_tests"]  # the seed's own examples
    assert row["seed"]["repository"].startswith("jsonl:")
    assert row["seed"]["path"] == "pkg/text.py"
    assert row["seed"]["commit"].startswith("sha256:")
    results = {
        r["key"].split("::")[1]: r for r in jsonl(jsonl_run / "validation_output" / "results.jsonl")
    }
    assert {name: r["reason"].split(":")[0] for name, r in results.items() if r["reason"]} == FAILED
    assert "examples fail: 4" in results["double"]["reason"]  # what the function gave instead
    assert "NameError: name 'np' is not defined" in results["mean"]["reason"]
    dropped = json.loads((jsonl_run / "seed_output" / "stats.json").read_text())["source"]
    assert {k.split("::")[1]: v.split(":")[0] for k, v in dropped["dropped"].items()} == SEED_DROPS
    assert dropped["rows"] == 3  # the file that does not parse is a row with no function


def test_the_run_has_the_seeds_layout_and_the_tests_written(jsonl_run: Path) -> None:
    tests = jsonl(jsonl_run / "self_oss_output" / "tests.jsonl")
    by_name = {t["key"].split("::")[1]: t for t in tests}
    assert by_name["count_words"]["tests"] is None
    assert by_name["count_words"]["tests_reason"].startswith("no tests: the docstring has no")
    report = (jsonl_run / "pipeline_report.md").read_text()
    assert "| functions | 7 | 0 |" in report
    assert "| seeds | 4 | 3 |" in report
    assert "| validated | 1 | 3 |" in report
    assert "- validated: self-tests fail (2)" in report
    stats = json.loads((jsonl_run / "final_dataset" / "stats.json").read_text())
    assert stats["by_validation"] == {"repo-tests": 0, "self-tests": 1}


def test_rows_load_with_datasets(jsonl_run: Path) -> None:
    datasets = pytest.importorskip("datasets")
    path = jsonl_run / "final_dataset" / "instruction_dataset.jsonl"
    loaded = datasets.load_dataset("json", data_files=str(path), split="train")
    assert loaded.num_rows == 1
    assert loaded[0]["validation"] == "self-tests"


def test_parquet_gives_the_same_pairs_and_a_rerun_comes_from_the_cache(
    runner: SourceRun, jsonl_run: Path
) -> None:
    """The same rows as Parquet: the same dataset, every verdict taken from the cache."""
    source = write_parquet(runner.root / "files.parquet", ROWS)
    run = runner.build(f"parquet:{source}", "parquet")
    dataset = "final_dataset/instruction_dataset.jsonl"
    mine, theirs = jsonl(run / dataset), jsonl(jsonl_run / dataset)
    for row in (*mine, *theirs):
        row["seed"].pop("repository")
    assert mine == theirs
    assert "validate       4       4" in (run / "logs" / "summary.txt").read_text()


def test_source_max_rows_and_column_names_come_from_pairs(runner: SourceRun) -> None:
    """Other column names, and only the first two rows read."""
    rows = [{"file": r["path"], "code": r["content"]} for r in ROWS]
    source = write_jsonl(runner.root / "renamed.jsonl", list(reversed(rows)))
    config = runner.root / "renamed.toml"
    config.write_text(
        '[pairs]\nsource_column = "code"\nsource_path_column = "file"\nsource_max_rows = 2\n'
    )
    run = runner.build(f"jsonl:{source}", "renamed", "--global-config-path", str(config))
    stats = json.loads((run / "seed_output" / "stats.json").read_text())["source"]
    assert (stats["rows"], stats["functions"]) == (2, 2)  # broken.py, then names.py
    assert "1:pkg/names.py::shout" in stats["dropped"]


def test_streamed_through_datasets_from_a_local_dataset(runner: SourceRun) -> None:
    """``hf:`` streams with ``datasets``; a local dataset directory stands in for the hub."""
    folder = runner.root / "hf_dataset"
    folder.mkdir()
    write_jsonl(folder / "train.jsonl", ROWS)
    run = runner.build(f"hf:{folder}", "hf")
    rows = jsonl(run / "final_dataset" / "instruction_dataset.jsonl")
    assert {row["seed"]["qualname"] for row in rows} == VALIDATED


@pytest.mark.parametrize(
    ("argument", "rows", "expected"),
    [
        ("csv:{root}/x.csv", None, "--source csv:"),
        ("jsonl:{root}/missing.jsonl", None, "cannot read it (No such file or directory)"),
        ("jsonl:{root}/bad.jsonl", "not json\n", "line 1 is not JSON"),
        ("jsonl:{root}/bad.jsonl", '{"text": "x"}\n', "has no column 'content' (it has text)"),
        ("parquet:{root}/bad.jsonl", '{"content": "x"}\n', "not a readable Parquet file"),
    ],
)
def test_a_bad_source_is_one_line_and_leaves_no_run(
    tmp_path: Path, argument: str, rows: str | None, expected: str
) -> None:
    if rows is not None:
        (tmp_path / "bad.jsonl").write_text(rows)
    runner = SourceRun(tmp_path)
    out = runner.build(argument.format(root=tmp_path), "out", code=2)
    assert not out.exists()


def test_the_error_text_names_the_source_and_the_fix(tmp_path: Path) -> None:
    (tmp_path / "bad.jsonl").write_text('{"text": "x"}\n')
    argv = ["build-pairs", "--source", f"jsonl:{tmp_path}/bad.jsonl", "--output-dir", str(tmp_path)]
    result = CliRunner().invoke(cli, argv)
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines == [
        f"fbench: error: --source jsonl:{tmp_path}/bad.jsonl: line 1 has no column 'content'"
        " (it has text); set [pairs] source_column"
    ]


def test_source_and_specs_together_are_refused(tmp_path: Path) -> None:
    specs = tmp_path / "specs.py"
    specs.write_text("SPECS_A = {'repository': 'x/y'}\n")
    out = SourceRun(tmp_path).build("jsonl:x.jsonl", "out", "--config-path", str(specs), code=2)
    assert not out.exists()


def test_an_unreachable_hub_is_one_line(tmp_path: Path) -> None:
    """No hub here: datasets' offline mode is what an unreachable hub looks like to it."""
    fbench = Path(sys.executable).parent / "fbench"
    argv = [str(fbench), "build-pairs", "--source", "hf:some-org/some-code"]
    argv += ["--output-dir", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache")]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    error = [line for line in done.stderr.splitlines() if line.startswith("fbench: error")]
    assert len(error) == 1
    assert "--source hf:some-org/some-code: cannot stream split 'train'" in error[0]
    assert "Hugging Face hub is reachable" in error[0]
    assert not (tmp_path / "out").exists()


def test_hostile_responses_are_contained_and_fail_while_the_run_goes_on(tmp_path: Path) -> None:
    """Offline the response is the seed: functions that write outside, phone home, fork
    without end, sleep forever and hoard memory each fail with their reason, and a sound
    one passes."""
    outside = tmp_path / "outside.txt"
    config = tmp_path / "config.toml"
    memory_mb = 333  # also marks this test's harness processes
    config.write_text(f"[pairs]\ntimeout_self_tests = 5\nself_tests_memory_mb = {memory_mb}\n")
    with serve() as server:
        port = int(server.url.split(":")[2].split("/")[0])
        rows = [{"path": "hostile.py", "content": hostile_module(outside, port)}]
        source = write_jsonl(tmp_path / "hostile.jsonl", rows)
        run = SourceRun(tmp_path).build(
            f"jsonl:{source}", "out", "--global-config-path", str(config)
        )
        assert not any(r["path"] == "/hostile" for r in server.requests)
    results = {
        r["key"].split("::")[1]: r for r in jsonl(run / "validation_output" / "results.jsonl")
    }
    assert results["add"]["status"] == "ok"
    reasons = {name: r["reason"] for name, r in results.items() if name != "add"}
    assert all(r["status"] == "failed" for n, r in results.items() if n != "add")
    assert "FileNotFoundError" in reasons["escape"]
    assert not outside.exists()
    assert "ConnectionRefusedError" in reasons["phone_home"]
    assert re.search(r"timed out after 5 s|BlockingIOError", reasons["fork_bomb"])
    assert reasons["sleep_forever"] == "self-tests fail: timed out after 5 s"
    assert "MemoryError" in reasons["hoard"]  # 2 GiB asked for, 333 MiB allowed
    marker = str(memory_mb * 1024**2)
    left = [p for p in Path("/proc").glob("[0-9]*/cmdline") if marker in _read(p)]
    assert not left  # no fork of the bomb outlived its run
    assert [
        r["seed"]["qualname"] for r in jsonl(run / "final_dataset" / "instruction_dataset.jsonl")
    ] == ["add"]


def _read(path: Path) -> str:
    try:
        return path.read_bytes().decode(errors="replace")
    except OSError:  # the process ended meanwhile
        return ""


def test_a_source_run_resumes_without_being_told_its_source(tmp_path: Path) -> None:
    """A run stopped after seeds continues with --resume alone: it recorded its source."""
    runner = SourceRun(tmp_path)
    source = write_jsonl(tmp_path / "files.jsonl", ROWS)
    run = runner.build(f"jsonl:{source}", "out", "--debug", "end=seeds")
    assert not (run / "final_dataset" / "instruction_dataset.jsonl").exists()
    argv = ["--resume", str(run), "--global-config-path", str(tmp_path / "none.toml")]
    result = CliRunner().invoke(cli, ["build-pairs", *argv], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows = jsonl(run / "final_dataset" / "instruction_dataset.jsonl")
    assert {row["seed"]["qualname"] for row in rows} == VALIDATED


def test_a_source_that_breaks_after_its_first_row_stops_the_run_with_exit_1(
    tmp_path: Path,
) -> None:
    """Line 2 is not JSON: found only once the run reads it; the run says so and exits 1."""
    source = write_jsonl(tmp_path / "files.jsonl", ROWS[:1])
    source.write_text(source.read_text() + "{not json\n")
    run = SourceRun(tmp_path).build(f"jsonl:{source}", "out", code=1)
    report = (run / "pipeline_report.md").read_text()
    assert f"source stopped: seeds: {source}: line 2 is not JSON" in report
