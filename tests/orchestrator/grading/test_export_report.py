"""``fbench export`` through ``datasets`` and the run's ``pipeline_report.md``.

The run is the feature project built once with a tight line budget, so that
the funnel has real drops (one at classify, two at the fail-to-pass check).
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from orchestrator.grading.eval_inputs import load_cases
from orchestrator.grading.exports import SWEBENCH_FIELDS, case_row
from tests.orchestrator.grading.test_eval import SPEC, build_feature_run, shared_cache
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
    return build_feature_run(work, shared_cache(tmp_path_factory), TIGHT)


@pytest.fixture
def datasets(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The datasets package, kept off the network."""
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    return pytest.importorskip("datasets")


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
    assert {"level", "environment", "top_objects", "image", "image_name"} <= set(columns)
    cases = instances(run)
    assert {row["instance_id"] for row in rows} == set(cases)
    for row in rows:
        info = cases[row["instance_id"]]
        assert json.loads(row["FAIL_TO_PASS"]) == info["FAIL_TO_PASS"]
        p2p = json.loads(row["PASS_TO_PASS"]) + json.loads(row["PASS_TO_PASS_CROSS_FILE"])
        assert sorted(p2p) == sorted(info["PASS_TO_PASS"])
        assert json.loads(row["top_objects"]) == info["top_objects"]
        assert row["level"] == info["level"]
        derived = row["instance_id"].replace("__", "_1776_").lower()  # as SWE-bench derives it
        assert row["image"] == row["image_name"] == f"swebench/sweb.eval.x86_64.{derived}:latest"
        assert row["base_commit"] == info["base_commit"]
        assert row["repo"] == "local/geom"
        assert row["instance_id"].startswith("local__geom.")
        assert row["test_patch"].startswith("diff --git a/tests/")
        assert isinstance(row["created_at"], str)
        assert row["log_parser"] == "parse_log_pytest"
        assert row["eval_type"] == "pass_and_fail"
        assert row["patch"].startswith("diff --git a/geom/")
        if info["level"] == 2:
            assert "diff --git a/agent_code/__init__.py" in row["patch"]


def level_rows(rows: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {row["level"]: row for row in rows}


def test_swebench_jsonl_loads_with_datasets(run: Path, tmp_path: Path, datasets: Any) -> None:
    """The JSONL and the saved dataset load with one schema, so their rows mix."""
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
    assert loaded.features["created_at"] == datasets.Value("string")
    invoke("export", "--cases", str(run), "--format", "hf-dataset", "--out", str(tmp_path / "d"))
    saved = datasets.load_from_disk(str(tmp_path / "d"))["test"]
    both = datasets.concatenate_datasets([loaded.cast(saved.features), saved])
    assert len(both) == 2 * len(saved)
    assert loaded.features == saved.features


def test_level_2_rows_carry_the_gold_patch_that_eval_resolves_with(run: Path) -> None:
    """A level 2 row's patch is the level 1 patch plus an agent_code package."""
    rows = {row["instance_id"]: row for row in map(case_row, load_cases(run).values())}
    (lv2,) = [row for iid, row in rows.items() if iid.endswith(".lv2")]
    lv1 = rows[lv2["instance_id"].removesuffix(".lv2") + ".lv1"]  # the same case's level 1
    assert lv2["patch"].startswith(lv1["patch"])
    added = lv2["patch"].removeprefix(lv1["patch"])
    assert added.startswith("diff --git a/agent_code/__init__.py b/agent_code/__init__.py\n")
    assert "from geom." in added


def test_pass_to_pass_holds_only_test_patch_files_unless_all(run: Path) -> None:
    """SWE-bench 4 runs test_patch's files only; the cross-file tests get their own column."""
    for case in load_cases(run).values():
        row, every = case_row(case), case_row(case, p2p="all")
        test_file = case.instance["test_file"]
        same, cross = json.loads(row["PASS_TO_PASS"]), json.loads(row["PASS_TO_PASS_CROSS_FILE"])
        assert all(test.startswith(f"{test_file}::") for test in same)
        assert cross
        assert not any(test.startswith(f"{test_file}::") for test in cross)
        assert json.loads(every["PASS_TO_PASS"]) == case.instance["PASS_TO_PASS"]
        assert json.loads(every["PASS_TO_PASS_CROSS_FILE"]) == []
        assert every["eval_script"].count(".py") > row["eval_script"].count(".py")


def test_hf_dataset_opens_with_load_from_disk_as_a_test_split(
    run: Path, tmp_path: Path, datasets: Any
) -> None:
    out = tmp_path / "dataset"
    for _ in range(2):  # a second export replaces the first
        invoke("export", "--cases", str(run), "--format", "hf-dataset", "--out", str(out))
    loaded = datasets.load_from_disk(str(out))
    assert list(loaded) == ["test"]
    check_rows(list(loaded["test"]), loaded["test"].column_names, run)


def test_parquet_is_the_test_split_in_one_file(run: Path, tmp_path: Path, datasets: Any) -> None:
    out = tmp_path / "parquet"
    invoke("export", "--cases", str(run / "cases"), "--format", "parquet", "--out", str(out))
    assert sorted(path.name for path in out.iterdir()) == ["test.parquet"]
    loaded = datasets.load_dataset(
        "parquet", data_dir=str(out), split="test", cache_dir=str(tmp_path / "hf")
    )
    check_rows(list(loaded), loaded.column_names, run)


@pytest.fixture(scope="module")
def task_repo(run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("task-repo") / "tasks"
    invoke("export", "--cases", str(run), "--format", "swebench-task-repo", "--out", str(out))
    return out


def test_task_repo_passes_swebench_dataset_check(run: Path, task_repo: Path) -> None:
    """SWE-bench 5's own checker finds nothing wrong, and its loader reads the rows back."""
    repo = pytest.importorskip("swebench.task.repo")
    swebench = Path(sys.executable).parent / "swebench"
    check = subprocess.run(
        [str(swebench), "dataset", "check", str(task_repo)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    loaded = {row["instance_id"]: row for row in repo.load_task_repo(task_repo)}
    assert {row["split"] for row in loaded.values()} == {"test"}
    for row in (case_row(case) for case in load_cases(run).values()):
        found = loaded[row["instance_id"]]
        for key in ("patch", "test_patch", "eval_script", "image", "base_commit", "repo"):
            assert found[key] == row[key], key
        assert found["FAIL_TO_PASS"] == json.loads(row["FAIL_TO_PASS"])


def test_task_repo_compiles_with_swebench_dataset_build(
    run: Path, task_repo: Path, tmp_path: Path
) -> None:
    """`swebench dataset build` (offline: it reads only the tree) writes the test split's
    parquet, one row per case, with our image names and scripts."""
    pandas = pytest.importorskip("pandas")
    swebench = Path(sys.executable).parent / "swebench"
    out = tmp_path / "parquets"
    done = subprocess.run(
        [str(swebench), "dataset", "build", str(task_repo), "-o", str(out)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    table = pandas.read_parquet(out / "featurebench" / "test.parquet")
    rows = {row["instance_id"]: row for row in table.to_dict("records")}
    expected = {row["instance_id"]: row for row in map(case_row, load_cases(run).values())}
    assert set(rows) == set(expected)
    for instance_id, row in expected.items():
        for key in ("image", "eval_script", "base_commit", "patch", "test_patch"):
            assert rows[instance_id][key] == row[key], key


@pytest.mark.parametrize(("level", "patch"), [(1, "gold"), (2, "gold"), (1, "empty")])
def test_eval_sh_graded_by_swebench_resolves_gold_only(
    task_repo: Path,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    level: int,
    patch: str,
) -> None:
    """eval.sh run on a checkout of repo.bundle, its log graded by SWE-bench's own code."""
    grading = pytest.importorskip("swebench.harness.grading")
    from swebench.harness.utils import make_test_spec
    from swebench.task.repo import load_task

    both = {path.name.removesuffix(".lv2") for path in task_repo.glob("tasks/*.lv2")}
    (task,) = [p for p in task_repo.glob(f"tasks/*.lv{level}") if p.name[:-4] in both]
    instance = load_task(task)
    testbed = tmp_path / "testbed"
    subprocess.run(["git", "clone", "-q", str(task / "repo.bundle"), str(testbed)], check=True)
    if patch == "gold":
        subprocess.run(["git", "apply", str(task / "gold.patch")], cwd=testbed, check=True)
    venv = shared_cache(tmp_path_factory) / "envs" / json.loads(instance["environment"])["key"]
    env = {"PATH": f"{venv / 'venv' / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path)}
    script = instance["eval_script"].replace("/testbed", str(testbed))
    assert "\nexport PYTHONHASHSEED=0\n" in script  # as the case's test ids were named
    done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True)
    log = tmp_path / "test_output.txt"
    log.write_text(done.stdout + done.stderr)
    prediction = {"instance_id": task.name, "model_name_or_path": "m", "model_patch": patch}
    spec = make_test_spec(instance)
    report = grading.get_eval_report(spec, prediction, str(log), include_tests_status=True)
    assert report[task.name]["resolved"] is (patch == "gold"), report


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
    assert "pip install 'pytest-featurebench[hf]'" in result.output
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
