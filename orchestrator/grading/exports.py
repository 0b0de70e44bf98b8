"""``fbench export``: the cases of a run as rows for the harnesses people already use.

A row starts with SWE-bench's fields, in SWE-bench's order and types:
``FAIL_TO_PASS`` and ``PASS_TO_PASS`` are JSON strings, as in SWE-bench's own
datasets, so its harness reads them unchanged. ``environment_setup_commit``
is the case repository's commit (an environment installed from it holds no
removed code) and ``version`` is the environment key: instances with the same
version share an environment, as in SWE-bench. featurebench's own fields
follow; lists and mappings among them are JSON strings too, so every row has
the same flat schema (an all-empty list or mapping would otherwise give
Arrow a column type it cannot write). Level 2 rows have an empty ``patch``.

``swebench-jsonl`` is one JSON object per line (``datasets.load_dataset("json",
data_files=...)`` reads it); ``hf-dataset`` is a directory written by
``datasets.Dataset.save_to_disk`` (``datasets.load_from_disk`` opens it).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from orchestrator.errors import UsageError
from orchestrator.grading.eval_inputs import Case, load_cases
from orchestrator.pipeline.registry import registry
from orchestrator.pipeline.storage import write_atomic

FORMATS = ("swebench-jsonl", "hf-dataset")
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
# featurebench's fields, after SWE-bench's: name -> instance.json key (None: computed).
ADDED_FIELDS = {
    "hints_text": None,
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
_INTEGERS = frozenset(("level", "lines", "f2p_test_points", "p2p_test_points"))


def case_row(case: Case) -> dict[str, Any]:
    """One case as a SWE-bench row with featurebench's fields after it."""
    info = case.instance
    patch = case.path / "patch.diff"
    row: dict[str, Any] = {
        "instance_id": info["instance_id"],
        "repo": info["repo"],
        "base_commit": info["base_commit"],
        "patch": patch.read_text(encoding="utf-8") if patch.is_file() else "",
        "test_patch": (case.path / "test_patch.diff").read_text(encoding="utf-8"),
        "problem_statement": (case.path / "problem_statement.md").read_text(encoding="utf-8"),
        "FAIL_TO_PASS": json.dumps(info["FAIL_TO_PASS"]),
        "PASS_TO_PASS": json.dumps(info["PASS_TO_PASS"]),
        "environment_setup_commit": info["base_commit"],
        "version": info["environment"]["key"],
        "hints_text": "",
    }
    for name, key in ADDED_FIELDS.items():
        if key is not None:
            value = info.get(key)
            row[name] = (
                json.dumps(value, sort_keys=True) if isinstance(value, list | dict) else value
            )
    return row


def export_cases(run: Path, format: str, out: Path) -> int:
    """Write the run's cases to ``out`` in ``format``; returns the number of rows."""
    exporter = registry("exporters").get(format)  # the formats are exporters by type
    rows = [case_row(case) for _, case in sorted(load_cases(run).items())]
    exporter(rows, out)
    return len(rows)


def write_jsonl(rows: list[dict[str, Any]], out: Path) -> None:
    """The swebench-jsonl exporter: one row per line."""
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    write_atomic(out, text.encode())


def _datasets() -> Any:
    try:
        import datasets
    except ImportError:
        raise UsageError(
            "--format hf-dataset needs the datasets package: pip install 'featurebench[hf]'"
        ) from None
    return datasets


def save_dataset(rows: list[dict[str, Any]], out: Path) -> None:
    datasets = _datasets()
    if out.exists() and not (out / "dataset_info.json").is_file():
        raise UsageError(
            f"--out {out}: exists and is not a dataset export; remove it or pick another"
        )
    features = datasets.Features(
        {
            name: datasets.Value("int64" if name in _INTEGERS else "string")
            for name in [*SWEBENCH_FIELDS, *ADDED_FIELDS]
        }
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    # Built beside its place and renamed in, so a failed export leaves the old one whole.
    building = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        datasets.Dataset.from_list(rows, features=features).save_to_disk(str(building / "data"))
        if out.exists():
            shutil.rmtree(out)
        (building / "data").rename(out)
    finally:
        shutil.rmtree(building, ignore_errors=True)
