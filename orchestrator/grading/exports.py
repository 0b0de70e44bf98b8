"""``fbench export``: the cases of a run as rows for the harnesses people already use.

A row starts with SWE-bench's fields, in SWE-bench's order and types:
``FAIL_TO_PASS`` and ``PASS_TO_PASS`` are JSON strings, as in SWE-bench's own
datasets, so its harness reads them unchanged. ``environment_setup_commit``
is the case repository's commit (an environment installed from it holds no
removed code) and ``version`` is the environment key: instances with the same
version share an environment, as in SWE-bench. featurebench's own fields
follow; lists and mappings among them are JSON strings too, so every row has
the same flat schema (an all-empty list or mapping would otherwise give
Arrow a column type it cannot write). A level 2 row's ``patch`` is its real
gold patch: the level 1 patch plus the ``agent_code`` package.

SWE-bench 4 and older run only the test files that ``test_patch`` touches, so
by default ``PASS_TO_PASS`` holds the pass-to-pass tests of those files and
``PASS_TO_PASS_CROSS_FILE`` the others; ``--p2p all`` puts every one in
``PASS_TO_PASS`` for harnesses that run the row's ``eval_script`` (SWE-bench 5).
Timestamps are ISO 8601 strings with microseconds, which Arrow's JSON reader
leaves as strings: rows read from the JSONL and from disk have one schema.

``swebench-jsonl`` is one JSON object per line (``datasets.load_dataset("json",
data_files=...)`` reads it); ``hf-dataset`` is a directory written by
``datasets.DatasetDict({"test": ...}).save_to_disk`` (``datasets.load_from_disk``
opens it); ``parquet`` is ``OUT/test.parquet``; ``swebench-task-repo`` is
SWE-bench 5's task repository (:mod:`orchestrator.grading.task_repo`).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from orchestrator.errors import UsageError
from orchestrator.grading import harness
from orchestrator.grading.eval_inputs import Case, gold_patch, load_cases
from orchestrator.pipeline.registry import registry
from orchestrator.pipeline.storage import write_atomic

FORMATS = ("swebench-jsonl", "hf-dataset", "parquet", "swebench-task-repo")
P2P_MODES = ("same-file", "all")
SPLIT = "test"
SWEBENCH_FIELDS = (
    "instance_id",
    "repo",
    "base_commit",
    "patch",
    "test_patch",
    "problem_statement",
    "FAIL_TO_PASS",
    "PASS_TO_PASS",
    "environment_setup_commit",
    "version",
)
# What SWE-bench 5's harness reads beside them (make_test_spec).
HARNESS_FIELDS = ("image", "image_name", "eval_script", "log_parser", "eval_type")
# featurebench's fields, after SWE-bench's: name -> instance.json key (None: computed).
ADDED_FIELDS = {
    "hints_text": None,
    "PASS_TO_PASS_CROSS_FILE": None,
    "created_at": "create_time",
    "level": "level",
    "original_commit": "original_commit",
    "environment": "environment",
    "test_file": "test_file",
    "p2p_files": "p2p_files",
    "top_objects": "top_objects",
    "emptied": "emptied",
    "files": "files",
    "functions": "functions",
    "lines": "lines",
    "f2p_test_points": "f2p_test_points",
    "p2p_test_points": "p2p_test_points",
    "upd_time": "upd_time",
    "repo_settings": "repo_settings",
}
_OWNER_NAME = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_INTEGERS = frozenset(("level", "lines", "f2p_test_points", "p2p_test_points"))


def case_row(case: Case, p2p: str = "same-file") -> dict[str, Any]:
    """One case as a SWE-bench row with featurebench's fields after it."""
    info = case.instance
    test_patch = (case.path / "test_patch.diff").read_text(encoding="utf-8")
    passing, cross_file = _split_p2p(info["PASS_TO_PASS"], test_patch, p2p)
    row: dict[str, Any] = {
        "instance_id": info["instance_id"],
        "repo": owner_name(case),
        "base_commit": info["base_commit"],
        "patch": gold_patch(case) or "",
        "test_patch": test_patch,
        "problem_statement": (case.path / "problem_statement.md").read_text(encoding="utf-8"),
        "FAIL_TO_PASS": json.dumps(info["FAIL_TO_PASS"]),
        "PASS_TO_PASS": json.dumps(passing),
        "environment_setup_commit": info["base_commit"],
        "version": info["environment"]["key"],
        # The Docker backend's per-case image (docker_case.py); `image` for SWE-bench 5,
        # `image_name` for the agents (mini-swe-agent, SWE-agent) that read that key.
        "image": harness.image_name(info["instance_id"]),
        "image_name": harness.image_name(info["instance_id"]),
        "eval_script": harness.eval_script(case, test_patch, [*info["FAIL_TO_PASS"], *passing]),
        "log_parser": harness.LOG_PARSER,
        "eval_type": harness.EVAL_TYPE,
        "hints_text": "",
        "PASS_TO_PASS_CROSS_FILE": json.dumps(cross_file),
    }
    for name, key in ADDED_FIELDS.items():
        if key is not None:
            row[name] = _column(key, info.get(key))
    return row


def owner_name(case: Case) -> str:
    """``owner/name``: the spec's when it is one, else the slug of ``cases/<slug>.<commit8>``."""
    repo: str = case.instance["repo"]
    if _OWNER_NAME.match(repo):
        return repo
    slug = case.path.parent.name.rsplit(".", 1)[0]
    return slug.replace("__", "/", 1)


def _split_p2p(tests: list[str], test_patch: str, mode: str) -> tuple[list[str], list[str]]:
    """The pass-to-pass tests SWE-bench 4 can run (``test_patch``'s files), and the rest."""
    if mode == "all":
        return tests, []
    touched = set(harness.patch_files(test_patch))
    same = [test for test in tests if test.split("::", 1)[0] in touched]
    return same, [test for test in tests if test not in same]


def _column(key: str, value: Any) -> Any:
    if key in ("create_time", "upd_time"):
        return _timestamp(value)
    return json.dumps(value, sort_keys=True) if isinstance(value, list | dict) else value


def _timestamp(value: Any) -> str:
    """ISO 8601 with microseconds: Arrow's JSON reader infers whole seconds as timestamps."""
    if not isinstance(value, str) or not value:
        return ""
    parsed = dt.datetime.fromisoformat(value)
    return parsed.isoformat(timespec="microseconds")


def export_cases(run: Path, format: str, out: Path, p2p: str = "same-file") -> int:
    """Write the run's cases to ``out`` in ``format``; returns the number of rows."""
    exporter = registry("exporters").get(format)  # the formats are exporters by type
    if p2p not in P2P_MODES:
        raise UsageError(f"--p2p {p2p}: unknown; use one of {', '.join(P2P_MODES)}")
    cases = dict(sorted(load_cases(run).items()))
    rows = [case_row(case, p2p) for case in cases.values()]
    exporter(rows, out, cases)
    return len(rows)


# Exporters, registered by type (``featurebench.exporters``): rows, where, and the cases.
Cases = dict[str, Case]


def write_jsonl(rows: list[dict[str, Any]], out: Path, cases: Cases) -> None:
    """swebench-jsonl: one row per line."""
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    write_atomic(out, text.encode())


def save_dataset(rows: list[dict[str, Any]], out: Path, cases: Cases) -> None:
    """hf-dataset: a ``DatasetDict`` with one ``test`` split, for ``load_from_disk``."""
    _save_dataset(rows, out, parquet=False)


def save_parquet(rows: list[dict[str, Any]], out: Path, cases: Cases) -> None:
    """parquet: ``OUT/test.parquet``."""
    _save_dataset(rows, out, parquet=True)


def write_task_repo(rows: list[dict[str, Any]], out: Path, cases: Cases) -> None:
    """swebench-task-repo: SWE-bench 5's task repository."""
    from orchestrator.grading.task_repo import write_task_repo as write

    write(rows, cases, out)


def _datasets() -> Any:
    try:
        import datasets
    except ImportError:
        raise UsageError(
            "--format hf-dataset and parquet need the datasets package:"
            " pip install 'pytest-featurebench[hf]'"
        ) from None
    return datasets


def _save_dataset(rows: list[dict[str, Any]], out: Path, parquet: bool) -> None:
    datasets = _datasets()
    marker = out / (f"{SPLIT}.parquet" if parquet else "dataset_dict.json")
    if out.exists() and not marker.is_file():
        raise UsageError(
            f"--out {out}: exists and is not an export of this format; remove it or pick another"
        )
    fields = [*SWEBENCH_FIELDS, *HARNESS_FIELDS, *ADDED_FIELDS]
    features = datasets.Features(
        {name: datasets.Value("int64" if name in _INTEGERS else "string") for name in fields}
    )
    table = datasets.Dataset.from_list(rows, features=features)
    out.parent.mkdir(parents=True, exist_ok=True)
    # Built beside its place and renamed in, so a failed export leaves the old one whole.
    building = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        if parquet:
            (building / "data").mkdir()
            table.to_parquet(str(building / "data" / f"{SPLIT}.parquet"))
        else:
            datasets.DatasetDict({SPLIT: table}).save_to_disk(str(building / "data"))
        if out.exists():
            shutil.rmtree(out)
        (building / "data").rename(out)
    finally:
        shutil.rmtree(building, ignore_errors=True)
