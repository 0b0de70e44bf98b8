"""``fbench export`` through ``datasets`` and the run's ``pipeline_report.md``.

The run is the feature project built once with a tight line budget, so that
the funnel has real drops (one at classify, two at the fail-to-pass check).
"""

from __future__ import annotations

import json
import struct
import sys
import zlib
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from orchestrator.grading.exports import SWEBENCH_FIELDS
from tests.orchestrator.feature_project import make_feature_project
from tests.orchestrator.grading.test_eval import SPEC, shared_cache
from tests.support.caseutil import instance

TIGHT = {
    **SPEC,
    "max_code_line_lower_bound": 3,
    "max_code_line_upper_bound": 5,
    "case_unit": "file",  # whole files only: the tight budget leaves few cases
}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("report")
    make_feature_project(work / "geom")
    spec = {"repository": str(work / "geom"), **TIGHT}
    (work / "specs.py").write_text(f"SPECS_GEOM = {spec!r}\n")
    command = ["build-cases", "--config-path", str(work / "specs.py"), "--jobs", "4"]
    command += ["--output-dir", str(work / "out")]
    command += ["--cache-dir", str(shared_cache(tmp_path_factory))]
    result = CliRunner().invoke(cli, command, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    (found,) = (work / "out").glob("*/*")
    return found


def invoke(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def data_status(run: Path) -> dict[str, Any]:
    found: dict[str, Any] = json.loads((run / "metadata_outputs" / "data_status.json").read_text())
    return found["SPECS_GEOM"]


def instances(run: Path) -> dict[str, dict[str, Any]]:
    found = (instance(case) for case in run.glob("cases/*/*.lv[12]"))
    return {info["instance_id"]: info for info in found}


def check_rows(rows: list[dict[str, Any]], columns: list[str], run: Path) -> None:
    """SWE-bench's fields first and in order; the rows say what the cases say."""
    assert columns[: len(SWEBENCH_FIELDS)] == list(SWEBENCH_FIELDS)
    assert {"level", "environment", "top_objects"} <= set(columns)
    cases = instances(run)
    assert {row["instance_id"] for row in rows} == set(cases)
    for row in rows:
        info = cases[row["instance_id"]]
        assert json.loads(row["FAIL_TO_PASS"]) == info["FAIL_TO_PASS"]
        assert json.loads(row["PASS_TO_PASS"]) == info["PASS_TO_PASS"]
        assert json.loads(row["top_objects"]) == info["top_objects"]
        assert row["level"] == info["level"]
        assert row["base_commit"] == info["base_commit"]
        assert row["test_patch"].startswith("diff --git a/tests/")
        if info["level"] == 2:
            assert row["patch"] == ""
        else:
            assert row["patch"].startswith("diff --git a/geom/")


def test_swebench_jsonl_loads_with_datasets(
    run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    datasets = pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    out = tmp_path / "cases.jsonl"
    assert "3 cases" in invoke(
        "export", "--cases", str(run), "--format", "swebench-jsonl", "--out", str(out)
    )
    first = json.loads(out.read_text().splitlines()[0])
    assert list(first)[: len(SWEBENCH_FIELDS)] == list(SWEBENCH_FIELDS)
    loaded = datasets.load_dataset(
        "json", data_files=str(out), split="train", cache_dir=str(tmp_path / "hf")
    )
    check_rows(list(loaded), loaded.column_names, run)


def test_hf_dataset_opens_with_load_from_disk(
    run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    datasets = pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    out = tmp_path / "dataset"
    for _ in range(2):  # a second export replaces the first
        invoke("export", "--cases", str(run), "--format", "hf-dataset", "--out", str(out))
    loaded = datasets.load_from_disk(str(out))
    check_rows(list(loaded), loaded.column_names, run)


def test_hf_dataset_without_datasets_says_how_to_install(
    run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "datasets", None)  # makes ``import datasets`` fail
    command = [
        "export",
        "--cases",
        str(run),
        "--format",
        "hf-dataset",
        "--out",
        str(tmp_path / "d"),
    ]
    result = CliRunner().invoke(cli, command)
    assert result.exit_code == 2
    assert "pip install 'featurebench[hf]'" in result.output
    assert "Traceback" not in result.output


def test_hf_dataset_does_not_overwrite_other_directories(run: Path, tmp_path: Path) -> None:
    pytest.importorskip("datasets")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    command = ["export", "--cases", str(run), "--format", "hf-dataset"]
    result = CliRunner().invoke(cli, [*command, "--out", str(tmp_path / "mine")])
    assert result.exit_code == 2
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"


def png_pixels(path: Path) -> tuple[int, int, bytes]:
    """Width, height and the decompressed image data of a PNG, checking every chunk's CRC."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    offset, chunks = 8, []
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        assert zlib.crc32(kind + body) == crc, kind
        chunks.append((kind, body))
        offset += 12 + length
    assert chunks[0][0] == b"IHDR"
    assert chunks[-1][0] == b"IEND"
    width, height = struct.unpack(">II", chunks[0][1][:8])
    return width, height, zlib.decompress(b"".join(b for k, b in chunks if k == b"IDAT"))


def test_build_cases_leaves_a_report_whose_plots_open(run: Path) -> None:
    text = (run / "pipeline_report.md").read_text()
    for name in ("lines_removed.png", "f2p_tests.png", "stage_seconds.png"):
        assert f"](pipeline_report/{name})" in text
        width, height, pixels = png_pixels(run / "pipeline_report" / name)
        assert width > 100
        assert height > 100
        assert len(pixels) >= width * height  # at least one byte per pixel, decoded


def test_report_numbers_match_data_status(run: Path) -> None:
    status = data_status(run)
    report = json.loads((run / "pipeline_report" / "report.json").read_text())
    funnel = report["specs"]["SPECS_GEOM"]["funnel"]
    valid = sum(1 for f in status["files"].values() if f["status"] == "valid")
    assert funnel["F2P candidates"] == status["f2p_candidates"] == 4
    assert funnel["exported"] == status["valid_files"] == valid == 2
    assert report["specs"]["SPECS_GEOM"]["cases_written"] == status["cases"] == 3
    drops = {p: f["stage"] for p, f in status["files"].items() if f["status"] == "dropped"}
    # The tight line budget drops test_textutil.py in top, where its objects are chosen.
    assert drops == {"tests/test_round.py": "f2p", "tests/test_textutil.py": "top"}
    assert (funnel["traced"], funnel["masked"], funnel["validated"]) == (4, 3, 2)
    text = (run / "pipeline_report.md").read_text()
    assert "| SPECS_GEOM | 4 | 4 | 4 | 3 | 2 | 2 | 3 |" in text
    for path, info in status["files"].items():
        if info["status"] == "dropped":
            assert f"| `{path}` | {info['stage']} | {info['reason']}" in text
    cases = report["specs"]["SPECS_GEOM"]["cases"]
    assert sorted(cases) == sorted(n for f in status["files"].values() for n in f.get("cases", []))
    for name, row in cases.items():
        case = run / "cases" / name
        assert row["lines"] == instance(case)["lines"]
        assert f"| `{name}` | {row['level']} | {row['lines']} | {row['f2p']} |" in text


def test_report_timings_are_the_summary_s(run: Path) -> None:
    summary = json.loads((run / "metadata_outputs" / "summary.json").read_text())
    text = (run / "pipeline_report.md").read_text()
    for name, stage in summary["stages"].items():
        assert f"| {name} | {stage['items']} | {stage['cached']} | {stage['ok']} |" in text
        assert f" | {stage['seconds']:.1f} |\n" in text


def test_fbench_report_rebuilds_it(run: Path) -> None:
    before = (run / "pipeline_report.md").read_text()
    (run / "pipeline_report.md").unlink()
    (run / "pipeline_report" / "f2p_tests.png").unlink()
    assert invoke("report", str(run)).strip() == str(run / "pipeline_report.md")
    assert (run / "pipeline_report.md").read_text() == before
    png_pixels(run / "pipeline_report" / "f2p_tests.png")


def test_report_of_a_directory_that_is_not_a_run(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["report", str(tmp_path)])
    assert result.exit_code == 2
    assert "not a run directory" in result.output
