"""``fbench build-pairs --source`` with an LLM: the loopback model writes responses and tests."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.orchestrator.pairs.source_files import ROWS, SourceRun, write_jsonl
from tests.orchestrator.pairs.test_build_pairs_llm import KEY, KEY_VARIABLE, llm_config, scripted
from tests.orchestrator.pairs.text_project import jsonl
from tests.support.llm_server import Server, serve

RESPONSES = {
    "slugify": (  # correct; its tests pass
        "```python\nimport re\n\n\ndef slugify(text, separator='-'):\n"
        '    """Join the lower-case words of ``text`` with ``separator``."""\n'
        "    return separator.join(re.findall(r'[a-z0-9]+', text.lower()))\n```\n"
    ),
    "double": 'def double(x):\n    """Twice x."""\n    return x * 3\n',  # fails its tests
    "count_words": 'def count_words(text):\n    """Words."""\n    return len(text.split())\n',
    "mean": "```python\ndef average(values):\n    return sum(values) / len(values)\n```\n",
}
TESTS = {
    "slugify": (
        "```python\nfrom solution import slugify\n\n\n"
        "def slugify(text, separator='-'):\n    return 'shadowed'\n\n\n"  # taken out
        "def test_words():\n    assert slugify('Hello, World') == 'hello-world'\n\n\n"
        "def test_separator():\n    assert slugify('A b', separator='_') == 'a_b'\n```\n"
    ),
    "double": "```python\ndef test_two():\n    assert double(2) == 4\n```\n",
    "count_words": "These would be my tests, if I wrote any.",
}


def with_tests(responses: dict[str, str], tests: dict[str, str]) -> Callable[[dict[str, Any]], str]:
    """The pairs model of the repository tests, which also writes tests when asked."""
    answer = scripted(responses)

    def reply(body: dict[str, Any]) -> str:
        system = body["messages"][0]["content"]
        if system.startswith("You write tests"):
            name = re.search(r"the function `(\w+)`", system)
            return tests.get(name.group(1) if name else "", "No tests.")
        return answer(body)

    return reply


@pytest.fixture
def server() -> Iterator[Server]:
    with serve() as running:
        running.answer = with_tests(RESPONSES, TESTS)
        yield running


def test_model_written_tests_validate_responses_and_a_rerun_asks_nothing(
    tmp_path: Path, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each scripted reply meets its fate, the cache answers a rerun, the key is in no file."""
    monkeypatch.setenv(KEY_VARIABLE, KEY)
    runner = SourceRun(tmp_path)
    source = write_jsonl(tmp_path / "files.jsonl", ROWS)
    config = llm_config(tmp_path / "config.toml", server.url)
    args = ("--global-config-path", str(config))
    run = runner.build(f"jsonl:{source}", "llm", *args)
    rows = jsonl(run / "final_dataset" / "instruction_dataset.jsonl")
    assert [row["seed"]["qualname"] for row in rows] == ["slugify"]
    assert rows[0]["validation"] == "self-tests"
    assert "shadowed" not in rows[0]["self_tests"]  # its own slugify was taken out
    assert "def test_separator" in rows[0]["self_tests"]
    results = {
        r["key"].split("::")[1]: r for r in jsonl(run / "validation_output" / "results.jsonl")
    }
    assert results["slugify"]["status"] == "ok"
    assert results["double"]["reason"] == "self-tests fail: test_two: AssertionError"
    assert results["count_words"]["reason"].startswith("no tests: the reply holds no test")
    report = (run / "pipeline_report.md").read_text()
    assert "- responses: wrong name (1)" in report
    assert "| validated | 1 | 2 |" in report
    sent = len(server.completions())
    assert sent == 4 * 3 + 3 * 2  # concept, instruction, response; tests and a verdict each
    runner.build(f"jsonl:{source}", "again", *args)
    assert len(server.completions()) == sent
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.name != "config.toml":
            assert KEY.encode() not in path.read_bytes(), path
