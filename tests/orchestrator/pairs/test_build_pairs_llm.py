"""``fbench build-pairs`` with an LLM: a loopback server serves scripted S->C->I->R replies."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.orchestrator.pairs.text_project import Project, jsonl
from tests.support.llm_server import MODEL, Reply, Server, serve

KEY_VARIABLE = "FB_PAIRS_TEST_KEY"
KEY = "sk-fbpairs-0123456789abcdef-never-written"

# The response the model gives for each seed, by the name the instruction asks for.
RESPONSES = {
    "initials": (  # correct and well styled
        "Here it is:\n```python\n"
        "def initials(name: str) -> str:\n"
        '    """Return the capital initials of ``name``."""\n'
        '    return "".join(word[0].upper() for word in name.split())\n```\n'
    ),
    "count_words": (  # correct, badly styled
        'def count_words(text):\n  """how many words"""\n  return len( text.split() )\n'
    ),
    "feed": (  # fails its guarding test
        '```python\ndef feed(self, text):\n    """Add the words."""\n    return 0\n```\n'
    ),
    "same_slug": "```python\ndef make_slug(text, separator='-'):\n    return text\n```\n",
    "title_case": "I'm sorry, I cannot write that function today.",
}


def scripted(responses: dict[str, str]) -> Callable[[dict[str, Any]], str]:
    """The loopback model: a concept, an instruction, the scripted response, or a verdict."""

    def answer(body: dict[str, Any]) -> str:
        system, user = body["messages"][0]["content"], body["messages"][-1]["content"]
        if "programming concepts" in system:
            return "String processing with comprehensions."
        if "programming tasks" in system:
            name = re.search(r"The function to ask for: `(\w+)`", user)
            return f"Write `{name.group(1) if name else '?'}` as described."
        if "judge whether code" in system:
            return "YES\nThe code does what the instruction asks."
        asked = re.search(r"def (\w+)\(", user)
        return responses.get(asked.group(1) if asked else "", "No code, sorry.")

    return answer


@pytest.fixture
def server() -> Iterator[Server]:
    with serve() as running:
        running.answer = scripted(RESPONSES)
        yield running


def llm_config(path: Path, url: str, extra: str = "") -> Path:
    path.write_text(
        f'[llm]\nbase_url = "{url}"\nmodel = "{MODEL}"\napi_key_env = "{KEY_VARIABLE}"\n'
        f"price_input_per_1k = 0.5\nprice_output_per_1k = 1.5\n{extra}"
    )
    return path


def test_llm_mode_funnel_cache_and_key(
    textkit: Project, server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each scripted reply meets its fate; a rerun sends no request; the key is in no file."""
    monkeypatch.setenv(KEY_VARIABLE, KEY)
    config = llm_config(tmp_path / "config.toml", server.url)
    run = textkit.build_pairs("llm", "--global-config-path", str(config), "--batch-size", "2")
    rows = {
        r["seed"]["qualname"]: r for r in jsonl(run / "final_dataset" / "instruction_dataset.jsonl")
    }
    assert set(rows) == {"initials", "count_words"}
    assert rows["initials"]["model"] == MODEL
    assert rows["count_words"]["metrics"]["pep8"] > 0  # graded, not required by default
    assert rows["count_words"]["checks"]["pep8"] is False
    assert "def initials(name):" in rows["initials"]["instruction"]  # the signature is stated
    results = {
        r["key"].split("::")[1]: r for r in jsonl(run / "validation_output" / "results.jsonl")
    }
    assert results["Counter.feed"]["reason"].startswith("guarding tests fail")
    responses = jsonl(run / "self_oss_output" / "responses.jsonl")
    assert {r["key"].split("::")[1] for r in responses} == {
        "initials",
        "count_words",
        "Counter.feed",
    }
    report = (run / "pipeline_report.md").read_text()
    for line in (
        "| seeds | 5 |",
        "| concepts | 5 |",
        "| responses | 3 | 2 |",
        "| validated | 2 | 1 |",
    ):
        assert line in report
    assert "- responses: wrong name (1)" in report
    assert "- responses: no function (1)" in report
    assert "- validated: guarding tests fail (1)" in report
    sent = len(server.completions())
    assert sent == 5 * 3 + 3  # concept, instruction, response per seed; a verdict per response
    assert re.search(
        rf"{sent} requests \(0 answered from the cache\), \d+ prompt and \d+ completion tokens, cost 0\.\d+",
        report,
    )
    textkit.build_pairs("llm", "--global-config-path", str(config))
    assert len(server.completions()) == sent  # the rerun asked nothing
    for path in [*textkit.root.rglob("*"), *tmp_path.rglob("*")]:
        if path.is_file() and path.name != "config.toml":
            assert KEY.encode() not in path.read_bytes(), path


def test_hostile_responses_are_contained_and_fail(
    textkit: Project, server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Responses that phone home, sleep forever, write outside their scratch tree and fork
    without end each fail with their reason; the one correct response still passes."""
    port = server.url.split(":")[2].split("/")[0]
    outside = tmp_path / "outside.txt"
    server.answer = scripted(
        {
            "initials": (
                "def initials(name):\n    import socket\n"
                f"    with socket.create_connection(('127.0.0.1', {port}), timeout=3) as s:\n"
                "        s.sendall(b'GET /hostile HTTP/1.0\\r\\n\\r\\n')\n"
                "    return ''.join(w[0].upper() for w in name.split())\n"
            ),
            "count_words": "def count_words(text):\n    import time\n    time.sleep(10**6)\n",
            "title_case": (
                "def title_case(text):\n"
                f"    with open({str(outside)!r}, 'w') as stream:\n"
                "        stream.write('escaped')\n"
                "    return ' '.join(w.capitalize() for w in text.split())\n"
            ),
            "same_slug": "def same_slug(text, separator='-'):\n    import os\n    while True:\n        os.fork()\n",
            "feed": RESPONSES["feed"].replace(
                "return 0", "self.total += count_words(text)\n    return self.total"
            ),
        }
    )
    monkeypatch.setenv(KEY_VARIABLE, KEY)
    # Another temperature: other cache keys, so the hostile script is asked, not the cache.
    extra = "temperature = 0.5\n\n[pairs]\ntimeout_validate = 10\n"
    config = llm_config(tmp_path / "config.toml", server.url, extra)
    run = textkit.build_pairs("hostile", "--global-config-path", str(config))
    results = {
        r["key"].split("::")[1]: r for r in jsonl(run / "validation_output" / "results.jsonl")
    }
    assert results["Counter.feed"]["status"] == "ok"  # the run went on
    reasons = {name: r["reason"] for name, r in results.items() if name != "Counter.feed"}
    assert all(results[name]["status"] == "failed" for name in reasons)
    assert reasons["initials"] == "guarding tests fail: tests/test_core.py::test_initials"
    assert not any(r["path"] == "/hostile" for r in server.requests)
    assert "timed out" in reasons["count_words"]
    assert reasons["title_case"] == "guarding tests fail: tests/test_core.py::test_title_case"
    assert not outside.exists()
    assert reasons["same_slug"].startswith("guarding tests fail")
    rows = jsonl(run / "final_dataset" / "instruction_dataset.jsonl")
    assert [row["seed"]["qualname"] for row in rows] == ["Counter.feed"]


def test_an_endpoint_that_fails_stops_seeds_at_their_step_and_the_exit_status_says_so(
    textkit: Project, server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Concept requests answered 500 drop every seed at concepts, and the run exits 1."""
    server.script.extend(Reply(status=500) for _ in range(5))
    monkeypatch.setenv(KEY_VARIABLE, KEY)
    extra = "temperature = 0.9\nmax_retries = 0\n"
    config = llm_config(tmp_path / "config.toml", server.url, extra)
    run = textkit.build_pairs("failing", "--global-config-path", str(config), code=1)
    report = (run / "pipeline_report.md").read_text()
    assert "| concepts | 0 | 5 |" in report
    assert "- concepts: llm error (5)" in report
