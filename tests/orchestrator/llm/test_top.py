"""Top selection by the model: near-miss names, retries, a dead endpoint, the prompt budget."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

from orchestrator.llm.client import CHARS_PER_TOKEN
from orchestrator.llm.top import agreement, mean_agreement, select_with_llm
from tests.orchestrator.llm.conftest import candidate, client
from tests.support.llm_server import Reply, Server

CACHE = "cachetools/__init__.py"
FILES = {
    CACHE: (
        "class Cache:\n    def setdefault(self, key):\n        return key\n\n"
        "    def popitem(self):\n        pass\n\n\n"
        "class FIFOCache(Cache):\n    def popitem(self):\n        return 1\n\n\n"
        "class LRUCache(Cache):\n    def popitem(self):\n        return 2\n"
    ),
    "toolz/dicttoolz.py": "def merge_with(func, *dicts):\n    return {}\n",
    "tests/test_t.py": "import cachetools\n\n\ndef test_a():\n    pass\n",
}


def reply(*names: str) -> Reply:
    return Reply(content=json.dumps({"selected": list(names)}))


def test_near_miss_names_resolve_to_the_one_candidate_they_fit(
    server: Server, tmp_path: Path
) -> None:
    """A module prefix, a bare method name, a class named for its method, a base's method."""
    server.script.append(
        reply("setdefault", "toolz.merge_with", "Cache.popitem", "cachetools.LRUCache")
    )
    eligible = [
        candidate("Cache.setdefault", path=CACHE),
        candidate("FIFOCache.popitem", path=CACHE),
        candidate("merge_with", path="toolz/dicttoolz.py"),
        candidate("LRUCache.__init__", path=CACHE),
    ]
    llm = client(server, tmp_path)
    (batch,) = select_with_llm(llm, "cachetools", "tests/test_t.py", FILES, eligible, 5)
    assert sorted(batch.selected) == sorted(c.key for c in eligible)
    assert batch.resolved["Cache.popitem"] == f"{CACHE}::FIFOCache.popitem:1"
    assert batch.resolved["cachetools.LRUCache"] == f"{CACHE}::LRUCache.__init__:1"
    assert batch.unknown == []
    assert batch.fallback is None
    assert len(server.completions()) == 1


def test_an_ambiguous_name_is_asked_again_listing_the_valid_keys(
    server: Server, tmp_path: Path
) -> None:
    """``popitem`` fits two candidates: the second request names both, and its answer counts."""
    server.script.extend([reply("popitem"), reply("FIFOCache.popitem")])
    eligible = [
        candidate("FIFOCache.popitem", path=CACHE),
        candidate("LRUCache.popitem", path=CACHE),
    ]
    (batch,) = select_with_llm(client(server, tmp_path), "c", "tests/test_t.py", FILES, eligible, 5)
    assert batch.selected == [f"{CACHE}::FIFOCache.popitem:1"]
    second = server.completions()[1]["body"]["messages"][-1]["content"]
    assert "'popitem' could be FIFOCache.popitem, LRUCache.popitem" in second
    assert '"FIFOCache.popitem", "LRUCache.popitem"' in second


def test_a_retry_naming_only_unknown_names_is_malformed_not_an_empty_choice(
    server: Server, tmp_path: Path
) -> None:
    """Two replies naming nothing that exists leave the batch to the offline selector."""
    server.script.extend([reply("Dict.get"), reply("get_item", "Mapping")])
    eligible = [candidate("Cache.setdefault", path=CACHE)]
    (batch,) = select_with_llm(client(server, tmp_path), "c", "tests/test_t.py", FILES, eligible, 5)
    assert (
        batch.fallback
        == "the reply was malformed twice (it names no candidate: 'get_item', 'Mapping')"
    )
    assert batch.selected == []
    assert "Cache.setdefault" in server.completions()[1]["body"]["messages"][-1]["content"]


def test_a_dead_endpoint_stops_llm_work_after_max_retries(server: Server, tmp_path: Path) -> None:
    """After one request fails for good, the other batches fail at once, naming the URL."""
    server.script.extend([Reply(500)] * 2)
    eligible = [candidate(f"f{i}") for i in range(4)]
    llm = client(server, tmp_path, max_retries=1, concurrency=1)
    batches = select_with_llm(llm, "c", "tests/test_t.py", FILES, eligible, 1)
    assert len(batches) == 4
    assert all(b.error for b in batches)
    assert len(server.completions()) == 2  # one request and its retry, nothing after
    assert llm.down is not None
    assert llm.down.startswith(f"LLM request to {server.url} failed after 2 attempts")
    assert llm.down.endswith("LLM work stopped for the rest of the run")
    again = client(server, tmp_path)  # the endpoint is back: nothing of the failure was cached
    recovered = select_with_llm(again, "c", "tests/test_t.py", FILES, eligible, 1)
    assert all(b.error is None and b.fallback is None for b in recovered)
    assert len(server.completions()) == 6


MIXIN = """\
class CacheTestMixin:
    def test_inherited_popitem(self):
        cache = self.make()
        assert cache.popitem() == (1, 1)
"""


def big_test_file(tests: int) -> str:
    body = "".join(
        f"\n\ndef test_{i}():\n    value = f{i % 8}({i})\n" + "    assert value == value\n" * 20
        for i in range(tests)
    )
    mixed = "\n\nclass TestFIFO(CacheTestMixin):\n    def make(self):\n        return {}\n"
    return "from tests.mixins import CacheTestMixin\nfrom geom.textutil import *\n" + mixed + body


def test_prompts_stay_within_the_budget_on_a_test_file_larger_than_it(
    server: Server, tmp_path: Path
) -> None:
    """A test file of ~100k characters and a 1500-token budget: every prompt fits, cut to the
    tests reaching the batch's candidates, inherited ones shown from their mixin."""
    files = {
        "tests/test_big.py": big_test_file(200),
        "tests/mixins.py": MIXIN,
        "geom/textutil.py": "".join(f"def f{i}(x):\n    return x\n\n" for i in range(8)),
    }
    assert len(files["tests/test_big.py"]) > 1500 * CHARS_PER_TOKEN * 10
    eligible = [candidate(f"f{i}", depth=1 + i % 2) for i in range(8)]
    reach = {
        c.key: {f"tests/test_big.py::test_{j}" for j in range(i, 200, 8)}
        for i, c in enumerate(eligible)
    }
    reach[eligible[0].key].add("tests/test_big.py::TestFIFO::test_inherited_popitem")
    llm = client(server, tmp_path, max_prompt_tokens=1500)
    batches = select_with_llm(llm, "geom", "tests/test_big.py", files, eligible, 5, reach=reach)
    assert sorted(k for b in batches for k in b.selected) == sorted(c.key for c in eligible)
    for request in server.completions():
        chars = sum(len(m["content"]) for m in request["body"]["messages"])
        assert chars <= 1500 * CHARS_PER_TOKEN
    prompts = [r["body"]["messages"][1]["content"] for r in server.completions()]
    for sent in prompts:  # each test shown reaches a candidate of its batch
        asked = {int(i) for i in re.findall(r'"qualname": "f(\d)"', sent)}
        shown = {int(j) % 8 for j in re.findall(r"def test_(\d+)\(", sent)}
        assert shown
        assert shown <= asked
    first = next(p for p in prompts if '"qualname": "f0"' in p)
    assert "# inherited from CacheTestMixin (tests/mixins.py)" in first
    assert "assert cache.popitem() == (1, 1)" in first
    logs = list((tmp_path / "logs" / "llm_api_calls").glob("top_selection-*.json"))
    sizes = [json.loads(p.read_text())["prompt_size"]["estimated_tokens"] for p in logs]
    assert len(sizes) == len(prompts)
    assert max(sizes) <= 1500


def test_one_files_requests_go_back_to_back(server: Server, tmp_path: Path) -> None:
    """Two files asked at once through one slot: no request of one falls between the other's."""
    llm = client(server, tmp_path, concurrency=1)
    server.latency = 0.05
    eligible = [candidate(f"f{i}") for i in range(6)]
    files = {
        "tests/test_a.py": "def test_a():\n    pass\n",
        "tests/test_b.py": "def test_b():\n    pass\n",
    }

    def ask(file: str) -> None:
        select_with_llm(llm, "geom", file, files, eligible, 2)

    threads = [threading.Thread(target=ask, args=(f,)) for f in files]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    order = ["test_a.py" in r["body"]["messages"][1]["content"] for r in server.completions()]
    assert len(order) == 6
    assert order in ([True] * 3 + [False] * 3, [False] * 3 + [True] * 3)


def test_agreement_counts_only_files_where_both_chose() -> None:
    """A file where one side chose nothing has its choices listed but no F1 in the mean."""
    both = agreement({"a", "b"}, {"b", "c"})
    assert both["overlap"] == ["b"]
    assert both["f1"] == 0.5
    one_sided = agreement({"a"}, set())
    assert one_sided["llm_count"] == 0
    assert "f1" not in one_sided
    summary = mean_agreement({"x.py": both, "y.py": one_sided})
    assert summary["mean"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5}
    assert summary["files_both_chose"] == 1


def test_the_second_request_stays_within_the_budget_whatever_the_reply_named(
    server: Server, tmp_path: Path
) -> None:
    """A reply of hundreds of invented names: the note the second request adds is bounded."""
    invented = [f"invented_helper_number_{i}_of_a_weak_model" for i in range(300)]
    server.script.extend([reply(*invented), reply("f0")])
    files = {
        "tests/test_big.py": big_test_file(200),
        "tests/mixins.py": MIXIN,
        "geom/textutil.py": "def f0(x):\n    return x\n",
    }
    eligible = [candidate("f0")]
    reach = {eligible[0].key: {f"tests/test_big.py::test_{j}" for j in range(0, 200, 8)}}
    llm = client(server, tmp_path, max_prompt_tokens=1500)
    (batch,) = select_with_llm(llm, "geom", "tests/test_big.py", files, eligible, 5, reach=reach)
    assert batch.selected == [eligible[0].key]
    first, second = (
        sum(len(m["content"]) for m in r["body"]["messages"]) for r in server.completions()
    )
    assert first > 1500 * CHARS_PER_TOKEN - 1000  # the first request used the room it had
    assert second <= 1500 * CHARS_PER_TOKEN
    note = server.completions()[1]["body"]["messages"][-1]["content"]
    assert "it names no candidate: 'invented_helper_number_0_of_a_weak_model'" in note
