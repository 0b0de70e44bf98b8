"""LLM mode end to end with a weak model's replies, and with an endpoint that fails then
recovers: never fewer valid files than offline, failures told and never cached."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from tests.orchestrator.feature_project import make_feature_project
from tests.orchestrator.llm.conftest import KEY, KEY_VARIABLE
from tests.orchestrator.llm.test_llm import build, write_config
from tests.support.gitrepos import commit_files
from tests.support.llm_server import (
    Reply,
    Server,
    default_answer,
    serve,
    stub_names,
    task_statement,
)

# Four more tests reaching Polygon.edges make it shared: 3 of its 7 tests are test_polygon's.
EDGES_AGAIN = (
    "from geom.shapes import Polygon\n\nSQUARE = [(0, 0), (2, 0), (2, 2), (0, 2)]\n"
    + "".join(
        f"\n\ndef test_edges_{i}():\n    assert len(Polygon(SQUARE).edges()) == 4\n"
        for i in range(4)
    )
)
# What a weak model answered, per test file: a shared object and near-miss names; for
# test_textutil objects that cannot make a case (the test_round file needs _normalize), for
# test_round an object that reaches too few of its tests.
WEAK = {
    "tests/test_polygon.py": ["Polygon.edges", "Polygon", "area"],
    "tests/test_textutil.py": ["textutil._normalize", "wrap_words"],
    "tests/test_counting.py": ["geom.count_words"],
    "tests/test_round.py": ["Circle.area"],  # one test of five: too few for a case
}
RETRIED = {"tests/test_polygon.py": ["Polygon.__init__", "area", "perimeter"]}


def weak_model(body: dict[str, Any]) -> str:
    text = "\n".join(m["content"] for m in body["messages"])
    found = re.search(r"^Test file: (\S+)$", text, re.MULTILINE)
    if found and found.group(1) in WEAK:
        again = "could not be used" in text
        picked = (RETRIED if again else WEAK).get(found.group(1), [])
        return json.dumps({"selected": picked, "reasons": {}})
    if "are in tests/test_counting.py" in text:  # a statement that invents a name, twice
        return task_statement([*stub_names(text), "count_lines"])
    return default_answer(body)


def project(work: Path) -> None:
    make_feature_project(work / "geom")
    commit_files(work / "geom", {"tests/test_edges.py": EDGES_AGAIN}, "more", when=1_650_000_100)


def status(run: Path) -> dict[str, Any]:
    found: dict[str, Any] = json.loads((run / "metadata_outputs" / "data_status.json").read_text())
    return found["SPECS_GEOM"]


def valid(run: Path) -> set[str]:
    return {path for path, entry in status(run)["files"].items() if entry["status"] == "valid"}


def assert_both_attempts_told(run: Path) -> None:
    """Where the offline choice made the case after the model's failed, in data
    (test_textutil) or in top (test_round): its notes, its attempts and the report say so."""
    textutil = status(run)["files"]["tests/test_textutil.py"]
    assert textutil["notes"][0].startswith("the model's choice failed (")
    assert textutil["notes"][0].endswith("the offline choice made the case")
    assert [a["choice"] for a in textutil["attempts"]] == ["llm", "offline"]
    rounded = status(run)["files"]["tests/test_round.py"]
    assert rounded["notes"][0].startswith(
        "the model's choice failed (top: the objects that can be removed reach only "
    )
    assert rounded["notes"][0].endswith("the offline choice made the case")
    assert [(a["choice"], a.get("stage"), a.get("status")) for a in rounded["attempts"]] == [
        ("llm", "top", None),
        ("offline", None, "valid"),
    ]
    report = (run / "pipeline_report.md").read_text()
    assert "| `tests/test_round.py` | the model's choice failed (top: " in report
    assert "| `tests/test_textutil.py` | the model's choice failed (" in report


def test_a_weak_model_never_makes_fewer_valid_files_than_offline(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Shared objects are never offered, near misses resolve, and where the model's choice
    cannot make a case the offline choice makes it: every offline-valid file stays valid."""
    monkeypatch.setenv(KEY_VARIABLE, KEY)
    project(tmp_path)
    code, output, offline_run = build(tmp_path, tmp_path / "no-config.toml")
    assert code == 0, output
    assert offline_run is not None
    server.answer = weak_model
    code, output, llm_run = build(tmp_path, write_config(tmp_path / "config.toml", server.url))
    assert code == 0, output
    assert llm_run is not None
    assert valid(offline_run) <= valid(llm_run)
    assert "tests/test_textutil.py" in valid(llm_run)
    prompts = [r["body"]["messages"][1]["content"] for r in server.completions()]
    polygon_prompts = [p for p in prompts if "Test file: tests/test_polygon.py" in p]
    assert polygon_prompts
    assert not any('"qualname": "Polygon.edges"' in p for p in polygon_prompts)  # shared
    assert_both_attempts_told(llm_run)
    counting = status(llm_run)["files"]["tests/test_counting.py"]
    assert any(
        n.startswith(
            "offline task statement: the statement was rejected twice: it names count_lines"
        )
        for n in counting["notes"]
    )
    statement = next(llm_run.glob("cases/*/test_counting.*.lv1/problem_statement.md")).read_text()
    assert "## The feature" not in statement
    assert "def count_words(text)" in statement  # the interface stub stays
    agreement = json.loads((llm_run / "metadata_outputs" / "llm_top_agreement.json").read_text())
    polygon = agreement["SPECS_GEOM"]["files"]["tests/test_polygon.py"]
    assert polygon["llm"] == sorted(polygon["llm"])
    assert {k.split("::")[1].split(":")[0] for k in polygon["llm"]} == {
        "Polygon.__init__",
        "Polygon.area",
        "Polygon.perimeter",
    }


def test_an_endpoint_failing_every_request_is_told_not_cached_and_asked_again(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every completion answers 500: two attempts, then LLM work stops with one line naming
    the URL, the run warns; once the endpoint is back, the next run asks the model."""
    monkeypatch.setenv(KEY_VARIABLE, KEY)
    project(tmp_path)
    config = write_config(tmp_path / "config.toml", server.url)
    config.write_text(config.read_text() + "max_retries = 1\n")
    server.script.extend([Reply(500)] * 50)
    code, output, run = build(tmp_path, config)
    assert code == 1, output  # a service error: the run says so in its exit status
    assert run is not None
    assert len(server.completions()) == 2
    summary = json.loads((run / "metadata_outputs" / "summary.json").read_text())
    assert any("are not cached" in w for w in summary["warnings"])
    assert summary["llm"]["down"].startswith(f"LLM request to {server.url} failed after 2")
    log = (run / "logs" / "fbench.log").read_text()
    assert log.count("LLM work stopped for the rest of the run") == 1
    assert status(run)["valid_files"] >= 2  # decided offline, for this run
    server.script.clear()
    code, output, again = build(tmp_path, config)
    assert code == 0, output
    assert again is not None
    assert len(server.completions()) > 2  # asked again: nothing of the failure was kept
    reasons = (again / "debug_outputs" / "llm_top_classification").rglob("reasons.json")
    assert any("LLM selected" in r.read_text() for r in reasons)


def test_a_unit_both_choices_fail_in_top_gives_both_reasons(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No choice can have 99 pass-to-pass files: the model's reaches too few tests, and the
    offline one, tried next, too few files; the drop names both."""
    monkeypatch.setenv(KEY_VARIABLE, KEY)
    project(tmp_path)
    server.answer = weak_model
    config = write_config(tmp_path / "config.toml", server.url)
    code, output, run = build(tmp_path, config, min_p2p_files=99, max_p2p_files=99)
    assert run is not None, output
    assert code == 0, output  # honest drops, not an error
    reason = status(run)["files"]["tests/test_round.py"]["reason"]
    assert reason.startswith("llm choice: the objects that can be removed reach only ")
    assert "; offline choice: only " in reason
    assert "need 99 (min_p2p_files)" in reason


def test_a_smaller_unit_the_endpoint_failed_on_is_asked_again(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """test_round's whole file is answered, then fails in top, and the endpoint fails on
    its groups of tests ('auto' tries them next): the file's result, though it shows only
    the whole file, is not cached, and the next run asks about the groups again."""
    monkeypatch.setenv(KEY_VARIABLE, KEY)
    project(tmp_path)
    asked: list[str] = []

    def failing_after_round(body: dict[str, Any]) -> str | None:
        text = "\n".join(m["content"] for m in body["messages"])
        if "Test file: tests/test_round.py" in text:
            asked.append(text)
            if len(asked) > 3:  # the whole file's two batches, and the second's retry
                return None
        return weak_model(body)

    server.answer = failing_after_round
    config = write_config(tmp_path / "config.toml", server.url)
    config.write_text(config.read_text() + "max_retries = 1\n")
    settings = {"min_p2p_files": 99, "max_p2p_files": 99}
    code, output, _ = build(tmp_path, config, **settings)
    assert code == 1, output
    assert len(asked) == 5  # then one group's request and its retry
    again: list[str] = []
    server.answer = lambda body: again.append(json.dumps(body)) or weak_model(body)
    code, output, _ = build(tmp_path, config, **settings)
    assert code == 0, output
    assert any("Test file: tests/test_round.py" in text for text in again)


def prompts(server: Server) -> list[str]:
    return ["\n".join(m["content"] for m in r["body"]["messages"]) for r in server.completions()]


def test_a_server_killed_mid_run_fails_the_run_and_resume_asks_again(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server dies after two answers: the run exits 1 and its summary and report say
    why; nothing decided without the model is kept, so --resume asks again what failed
    (top's batches and the case texts) and none of what was answered."""
    monkeypatch.setenv(KEY_VARIABLE, KEY)
    project(tmp_path)
    config = write_config(tmp_path / "config.toml", server.url)
    config.write_text(config.read_text() + "max_retries = 1\n")
    server.kill_after = 2
    code, output, run = build(tmp_path, config)
    assert code == 1, output
    assert run is not None
    answered = prompts(server)[:2]
    summary = json.loads((run / "metadata_outputs" / "summary.json").read_text())
    assert summary["errors"] == [summary["llm"]["down"]]
    assert summary["llm"]["down"].startswith(f"LLM request to {server.url} failed")
    assert any("not cached" in w and "rerun" in w for w in summary["warnings"])
    report = (run / "pipeline_report.md").read_text()
    assert f"LLM endpoint down: LLM request to {server.url} failed" in report
    assert "not cached" in report
    texts = [n for f in status(run)["files"].values() for n in f.get("notes", [])]
    assert any(n.startswith("offline task texts: LLM request to") for n in texts)
    port = int(server.url.rsplit(":", 1)[1].split("/")[0])
    with serve(port=port) as back:  # the server is back, at the same address
        command = ["build-cases", "--resume", str(run), "--global-config-path", str(config)]
        result = CliRunner().invoke(cli, command, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        asked = prompts(back)
    assert not set(asked) & set(answered)  # answered ones come from the cache
    assert any("Test file: tests/" in p and '"selected"' in p for p in asked)  # top again
    assert any("task statements" in p for p in asked)  # and the case texts
    summary = json.loads((run / "metadata_outputs" / "summary.json").read_text())
    assert summary["errors"] == []
    assert summary["llm"]["down"] is None
    texts = [n for f in status(run)["files"].values() for n in f.get("notes", [])]
    assert not any(n.startswith("offline task texts") for n in texts)
    assert "LLM endpoint down" not in (run / "pipeline_report.md").read_text()
