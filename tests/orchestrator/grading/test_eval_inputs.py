"""The prediction files agents write, read by ``fbench eval`` into one shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.errors import UsageError
from orchestrator.grading.eval_inputs import Case, load_predictions

PATCH_A = "diff --git a/x.py b/x.py\n"
CASES = {iid: Case(Path(iid), {"instance_id": iid}) for iid in ("o__r.1.t.a.lv1", "o__r.1.t.b.lv1")}


def read(tmp_path: Path, name: str, text: str) -> dict[str, dict[str, str]]:
    path = tmp_path / name
    path.write_text(text)
    return load_predictions(str(path), CASES).models


def test_jsonl_rows_keep_their_model(tmp_path: Path) -> None:
    rows = [
        {"instance_id": "o__r.1.t.a.lv1", "model_name_or_path": "m1", "model_patch": PATCH_A},
        {"instance_id": "o__r.1.t.b.lv1", "model_name_or_path": "m2", "model_patch": None},
    ]
    text = "".join(json.dumps(row) + "\n" for row in rows)
    assert read(tmp_path, "p.jsonl", text) == {
        "m1": {"o__r.1.t.a.lv1": PATCH_A},
        "m2": {"o__r.1.t.b.lv1": ""},
    }


def test_a_json_list_without_model_names_takes_the_file_name(tmp_path: Path) -> None:
    rows = [{"instance_id": "o__r.1.t.a.lv1", "model_patch": PATCH_A}]
    assert read(tmp_path, "my-agent.json", json.dumps(rows, indent=2)) == {
        "my-agent": {"o__r.1.t.a.lv1": PATCH_A}
    }


def test_mini_swe_agent_preds_json_is_keyed_by_instance_id(tmp_path: Path) -> None:
    preds = {
        "o__r.1.t.a.lv1": {"model_name_or_path": "gpt", "model_patch": PATCH_A},
        "o__r.1.t.b.lv1": {
            "instance_id": "o__r.1.t.b.lv1",
            "model_name_or_path": "gpt",
            "model_patch": "",
        },
    }
    assert read(tmp_path, "preds.json", json.dumps(preds, indent=2)) == {
        "gpt": {"o__r.1.t.a.lv1": PATCH_A, "o__r.1.t.b.lv1": ""}
    }


def test_a_single_jsonl_row_is_not_taken_for_a_keyed_object(tmp_path: Path) -> None:
    row = {"instance_id": "o__r.1.t.a.lv1", "model_name_or_path": "m", "model_patch": PATCH_A}
    assert read(tmp_path, "one.jsonl", json.dumps(row)) == {"m": {"o__r.1.t.a.lv1": PATCH_A}}


def test_openhands_output_jsonl_gives_test_result_git_patch(tmp_path: Path) -> None:
    row = {
        "instance_id": "o__r.1.t.a.lv1",
        "instruction": "...",
        "metadata": {"agent_class": "CodeActAgent", "llm_config": {"model": "claude"}},
        "history": [],
        "test_result": {"git_patch": PATCH_A},
    }
    assert read(tmp_path, "output.jsonl", json.dumps(row) + "\n") == {
        "claude": {"o__r.1.t.a.lv1": PATCH_A}
    }


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("p.json", '["not a row"]', "p.json: item 1: expected a JSON object"),
        ("p.json", '{"o__r.1.t.a.lv1": {"model_patch": 3}}', "key o__r.1.t.a.lv1: model_patch"),
        ("p.jsonl", '{"instance_id": "a"}\n{oops\n', "p.jsonl:2: not JSON"),
        (
            "p.json",
            '[{"instance_id": "a", "model_patch": ""}, {"instance_id": "a", "model_patch": ""}]',
            "item 2: a of p is already at",
        ),
    ],
)
def test_bad_rows_are_named_by_where_they_are(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        read(tmp_path, name, text)
