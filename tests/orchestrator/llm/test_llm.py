"""The LLM layer against a real OpenAI-compatible server on loopback (no patched client)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from orchestrator.errors import UsageError
from orchestrator.llm.client import LLMError
from orchestrator.llm.config import LLMConfig, api_key, parse_llm_config
from orchestrator.llm.prompts import load_prompt
from orchestrator.llm.top import select_with_llm
from tests.orchestrator.feature_project import make_feature_project
from tests.orchestrator.llm.conftest import KEY, KEY_VARIABLE, candidate, client
from tests.support.llm_server import MODEL, Reply, Server, task_statement

TASK = {
    "library": "geom",
    "stubs": "def f(): ...",
    "test_file": "t.py",
    "test_source": "pass",
    "feedback": "",
}


def test_requests_carry_the_model_the_prompt_and_the_key(server: Server, tmp_path: Path) -> None:
    text = client(server, tmp_path, temperature=0.2).complete(load_prompt("task_statement"), TASK)
    assert text == task_statement(["f"])
    (request,) = server.completions()
    body = request["body"]
    assert body["model"] == MODEL
    assert body["temperature"] == 0.2
    expected = load_prompt("task_statement").render(TASK)
    assert body["messages"] == expected
    headers = {name.lower(): value for name, value in request["headers"].items()}
    assert headers["authorization"] == f"Bearer {KEY}"
    (log,) = (tmp_path / "logs" / "llm_api_calls").glob("task_statement-*.json")
    record = json.loads(log.read_text())
    assert record["usage"]["completion_tokens"] == len(text.split())
    assert KEY not in log.read_text()


def test_429_waits_for_retry_after_then_succeeds(server: Server, tmp_path: Path) -> None:
    server.script.extend([Reply(429, headers={"retry-after": "1"}), Reply(content="fine")])
    llm = client(server, tmp_path)
    started = time.monotonic()
    assert llm.complete(load_prompt("task_statement"), TASK) == "fine"
    assert time.monotonic() - started >= 0.9
    assert len(server.completions()) == 2
    assert llm.stats.attempts == 2
    assert llm.stats.calls == 1


def test_5xx_and_slow_replies_are_retried(server: Server, tmp_path: Path) -> None:
    server.script.extend([Reply(500), Reply(delay=2.0, content="late"), Reply(content="ok")])
    llm = client(server, tmp_path, timeout=0.5)
    assert llm.complete(load_prompt("task_statement"), TASK) == "ok"
    assert len(server.completions()) == 3


def test_a_body_that_is_not_json_is_retried_then_reported(server: Server, tmp_path: Path) -> None:
    server.script.extend([Reply(raw=b"{not json"), Reply(content="ok")])
    assert client(server, tmp_path).complete(load_prompt("task_statement"), TASK) == "ok"
    server.script.extend([Reply(raw=b"{not json")] * 2)
    llm = client(server, tmp_path, max_retries=1)
    with pytest.raises(LLMError, match="JSONDecodeError"):
        llm.complete(load_prompt("task_statement"), {**TASK, "library": "other"})


def test_giving_up_is_one_line_that_names_the_endpoint(server: Server, tmp_path: Path) -> None:
    server.script.extend([Reply(500)] * 3)
    llm = client(server, tmp_path, max_retries=2)
    with pytest.raises(LLMError, match=rf"^LLM request to {server.url} failed after 3 attempts"):
        llm.complete(load_prompt("task_statement"), TASK)
    assert llm.stats.failures == 1
    (log,) = (tmp_path / "logs" / "llm_api_calls").glob("*.json")
    assert "HTTP 500" in json.loads(log.read_text())["error"]


def test_a_cached_answer_sends_nothing(server: Server, tmp_path: Path) -> None:
    first = client(server, tmp_path).complete(load_prompt("task_statement"), TASK)
    again = client(server, tmp_path)  # a new client, the same cache
    assert again.complete(load_prompt("task_statement"), TASK) == first
    assert len(server.completions()) == 1
    assert again.stats.cache_hits == 1
    assert again.stats.calls == 0


def test_a_missing_key_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_VARIABLE, raising=False)
    config = LLMConfig(base_url="http://127.0.0.1:9/v1", model="m", api_key_env=KEY_VARIABLE)
    with pytest.raises(UsageError, match=rf"the variable {KEY_VARIABLE} is not set"):
        api_key(config)


FILES = {
    "geom/textutil.py": "def slugify(text):\n    return text\n\n\ndef wrap(text):\n    return [text]\n",
    "tests/test_t.py": "from geom.textutil import slugify\n",
}


def test_malformed_replies_are_asked_again_once_then_offline_decides(
    server: Server, tmp_path: Path
) -> None:
    server.script.extend([Reply(content="I think slugify."), Reply(content='{"selected": 3}')])
    llm = client(server, tmp_path, concurrency=1)
    batches = select_with_llm(llm, "geom", "tests/test_t.py", FILES, [candidate("slugify")], 5)
    (batch,) = batches
    assert batch.fallback is not None
    assert batch.fallback.startswith("the reply was malformed twice")
    second = server.completions()[1]["body"]["messages"][-1]["content"]
    assert "Your previous reply could not be used" in second


def test_invented_names_are_ignored_and_recorded(server: Server, tmp_path: Path) -> None:
    server.script.append(Reply(content='{"selected": ["slugify", "no_such_thing"]}'))
    llm = client(server, tmp_path, concurrency=1)
    eligible = [candidate("slugify"), candidate("wrap", share=0.2)]
    (batch,) = select_with_llm(llm, "geom", "tests/test_t.py", FILES, eligible, 5)
    assert batch.selected == ["geom/textutil.py::slugify:1"]  # candidates by key
    assert batch.unknown == ["no_such_thing"]
    sent = server.completions()[0]["body"]["messages"][1]["content"]
    assert "def wrap(text):" in sent  # each candidate goes with its source
    assert "from geom.textutil import slugify" in sent  # and the test file


def write_config(path: Path, url: str) -> Path:
    path.write_text(
        f'[llm]\nbase_url = "{url}"\nmodel = "{MODEL}"\napi_key_env = "{KEY_VARIABLE}"\n'
        "concurrency = 4\nprice_input_per_1k = 0.5\nprice_output_per_1k = 1.5\n"
    )
    return path


def build(work: Path, config: Path, **settings: object) -> tuple[int, str, Path | None]:
    if not (work / "geom").exists():
        make_feature_project(work / "geom")
    spec = {
        "repository": str(work / "geom"),
        "pip_packages": ["pytest"],
        "test_cmd": ["pytest", "-q", "-p", "no:cacheprovider"],
        "max_code_line_lower_bound": 30,
        "max_code_line_upper_bound": 40,
        "llm_prompt_for_case": True,
        "library_name": "geom",
        **settings,
    }
    (work / "specs.py").write_text(f"SPECS_GEOM = {spec!r}\n")
    command = ["build-cases", "--config-path", str(work / "specs.py")]
    command += ["--global-config-path", str(config), "--output-dir", str(work / "out")]
    command += ["--cache-dir", str(work / "cache")]
    result = CliRunner().invoke(cli, command, catch_exceptions=False)
    runs = sorted((work / "out").glob("[0-9]*/*"))
    return result.exit_code, result.output, runs[-1] if runs else None


def test_llm_mode_builds_valid_cases_and_never_writes_the_key(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_VARIABLE, KEY)
    config = write_config(tmp_path / "config.toml", server.url)
    code, output, run = build(tmp_path, config)
    assert code == 0, output
    assert run is not None
    status = json.loads((run / "metadata_outputs" / "data_status.json").read_text())["SPECS_GEOM"]
    assert status["valid_files"] >= 2, status
    assert {r["body"]["model"] for r in server.completions()} == {MODEL}
    reasons = list((run / "debug_outputs" / "llm_top_classification").glob("*/*/reasons.json"))
    assert reasons
    assert any(
        "LLM selected" in c["reason"]
        for r in reasons
        for c in json.loads(r.read_text())["candidates"]
    )
    agreement = json.loads((run / "metadata_outputs" / "llm_top_agreement.json").read_text())
    assert set(agreement["SPECS_GEOM"]["mean"]) == {"precision", "recall", "f1"}
    statement = next(run.glob("cases/*/test_polygon.*.lv1/problem_statement.md")).read_text()
    assert "## The feature\n\nRestore the feature so that the library behaves" in statement
    # Polygon.area has no docstring of its own: the LLM's is in the stub.
    assert "Compute the result the tests expect" in statement
    assert list((run / "metadata_outputs" / "llm_task_statement" / "SPECS_GEOM").glob("*.txt"))
    summary = json.loads((run / "metadata_outputs" / "summary.json").read_text())
    assert summary["llm"]["calls"] == len(server.completions())
    assert summary["llm"]["cost"] > 0
    for root in (run, tmp_path / "cache", tmp_path / "out"):
        for path in root.rglob("*"):
            if path.is_file():
                assert KEY.encode() not in path.read_bytes(), path

    sent = len(server.completions())
    code, output, again = build(tmp_path, config)  # the same run again: all from the cache
    assert code == 0, output
    assert len(server.completions()) == sent
    assert again is not None
    assert (
        json.loads((again / "metadata_outputs" / "summary.json").read_text())["llm"]["calls"] == 0
    )


def test_an_unreachable_endpoint_stops_the_run_before_it_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_VARIABLE, KEY)
    config = write_config(tmp_path / "config.toml", "http://127.0.0.1:9/v1")
    code, output, run = build(tmp_path, config)
    assert code == 1
    assert "LLM endpoint http://127.0.0.1:9/v1 is not usable" in output
    assert len(output.strip().splitlines()) == 1
    assert run is None  # no run directory, no stage started


def test_llm_check_lists_models_and_completes(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_VARIABLE, KEY)
    config = write_config(tmp_path / "config.toml", server.url)
    result = CliRunner().invoke(cli, ["llm-check", "--global-config-path", str(config)])
    assert result.exit_code == 0, result.output
    assert MODEL in result.output
    assert len(server.completions()) == 1
    monkeypatch.delenv(KEY_VARIABLE)
    result = CliRunner().invoke(cli, ["llm-check", "--global-config-path", str(config)])
    assert result.exit_code == 2
    assert f"the variable {KEY_VARIABLE} is not set" in result.output


def test_a_too_small_prompt_budget_names_the_file_the_key_and_the_fix(tmp_path: Path) -> None:
    """``max_prompt_tokens = 100`` is refused in one line naming config.toml and the key."""
    table = {"base_url": "http://127.0.0.1:9/v1", "model": "m", "max_prompt_tokens": 100}
    with pytest.raises(UsageError) as raised:
        parse_llm_config(table, tmp_path / "config.toml")
    message = str(raised.value)
    assert message.startswith(
        f"{tmp_path / 'config.toml'}: [llm] max_prompt_tokens must be at least"
    )
    assert "\n" not in message
