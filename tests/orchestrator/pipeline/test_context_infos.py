"""context_infos keeps seed 003's shape and replaces a stage run again in place."""

from __future__ import annotations

import json
from pathlib import Path

from orchestrator.pipeline.context_infos import kept, record


def test_entries_are_added_in_order_and_replaced_in_place(tmp_path: Path) -> None:
    metadata = tmp_path / "metadata.json"
    metadata.write_text(json.dumps({"seed": 0}))
    record(metadata, "build_cases", {"meta_name": "repo", "ok": 1})
    record(metadata, "build_cases", {"meta_name": "scanner", "ok": 2})
    record(metadata, "build_pairs", {"meta_name": "repo", "ok": 3})
    record(metadata, "build_cases", {"meta_name": "repo", "ok": 4})
    assert json.loads(metadata.read_text()) == {
        "seed": 0,
        "context_infos": {
            "build_cases": [{"meta_name": "repo", "ok": 4}, {"meta_name": "scanner", "ok": 2}],
            "build_pairs": [{"meta_name": "repo", "ok": 3}],
        },
    }
    assert list(kept(metadata)) == ["context_infos"]
    assert not list(tmp_path.glob(".*.tmp"))  # written through a renamed temporary file


def test_nothing_is_kept_from_a_file_not_yet_written(tmp_path: Path) -> None:
    assert kept(tmp_path / "metadata.json") == {}
