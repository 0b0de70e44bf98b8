"""Throughput of the LLM client at concurrency 1 and 8, and prompt sizes and prefix-cache
hits of top selection, against a loopback server.

The server (tests/support/llm_server.py) answers every completion after a
fixed latency. N distinct requests go through :class:`orchestrator.llm.client.LLM`
from a pool of threads, as the top stage sends its batches; the client's
``concurrency`` setting is the only thing that changes. Printed: requests per
second at each setting and the ratio against concurrency 1 (the baseline).

Then two test files' top selections are asked at once through one slot, as
the top stage does with two jobs: once with that file's requests free to
alternate with the other's (the baseline: ``LLM.turn`` removed), once back to
back (``LLM.turn``, what the stage does). Printed: prompt tokens per request
(as the server counts them, and the largest as estimated against
``max_prompt_tokens``) and the share of prompt tokens the server reports
served from its prompt-prefix cache (``usage.prompt_tokens_details.cached_tokens``),
with its ratio to the baseline.

    python benchmarks/llm_concurrency.py [--requests 48] [--latency 0.2] [--repeat 3]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from orchestrator.llm.client import LLM  # noqa: E402
from orchestrator.llm.config import LLMConfig  # noqa: E402
from orchestrator.llm.prompts import load_prompt  # noqa: E402
from orchestrator.llm.top import select_with_llm  # noqa: E402
from orchestrator.pipeline.traces import Candidate  # noqa: E402
from tests.support.llm_server import MODEL, serve  # noqa: E402

SETTINGS = (1, 8)
CANDIDATES = 12
TESTS = 60
FILES = ("tests/test_alpha.py", "tests/test_beta.py")


def throughput(url: str, concurrency: int, requests: int) -> float:
    config = LLMConfig(base_url=url, model=MODEL, concurrency=concurrency)
    with tempfile.TemporaryDirectory(prefix="fb-llm-bench-") as tmp:
        llm = LLM(config, "bench-key", None, Path(tmp))
        prompt = load_prompt("task_statement")
        jobs = [
            {
                "library": "bench",
                "stubs": f"def f{i}(): ...",
                "test_file": "t.py",
                "test_source": "",
                "feedback": "",
            }
            for i in range(requests)
        ]
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=16) as pool:  # more callers than slots
            list(pool.map(lambda job: llm.complete(prompt, job), jobs))
        elapsed = time.perf_counter() - started
    return requests / elapsed


def project() -> dict[str, str]:
    """A library of CANDIDATES functions and two test files of TESTS tests each."""
    library = "".join(
        f'def f{i}(x):\n    """Step {i}."""\n    return x + {i}\n\n\n' for i in range(CANDIDATES)
    )
    files = {"bench/core.py": library}
    for file in FILES:
        stem = Path(file).stem
        files[file] = "from bench.core import *\n" + "".join(
            f"\n\ndef {stem}_{i}():\n    assert f{i % CANDIDATES}({i}) == {i + i % CANDIDATES}\n"
            for i in range(TESTS)
        )
    return files


def candidates() -> list[Candidate]:
    return [
        Candidate(
            key=f"bench/core.py::f{i}:{1 + 5 * i}",
            path="bench/core.py",
            qualname=f"f{i}",
            line=1 + 5 * i,
            depth=1,
            file_tests=TESTS // CANDIDATES,
            suite_tests=TESTS // CANDIDATES,
            specificity=1.0,
            score=1.0,
        )
        for i in range(CANDIDATES)
    ]


def top_prompts(url: str, back_to_back: bool) -> dict[str, float]:
    """Two files' top selections at once through one slot; figures of what was sent."""
    config = LLMConfig(base_url=url, model=MODEL, concurrency=1, max_prompt_tokens=3000)
    files, eligible = project(), candidates()
    with tempfile.TemporaryDirectory(prefix="fb-llm-bench-") as tmp:
        llm = LLM(config, "bench-key", None, Path(tmp))
        if not back_to_back:
            llm.turn = contextlib.nullcontext()  # type: ignore[assignment]

        def ask(file: str) -> None:
            stem = Path(file).stem
            reach = {
                c.key: {f"{file}::{stem}_{j}" for j in range(n, TESTS, CANDIDATES)}
                for n, c in enumerate(eligible)
            }
            select_with_llm(llm, "bench", file, files, eligible, 3, False, reach)

        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(ask, FILES))
        logs = [json.loads(p.read_text()) for p in Path(tmp).glob("llm_api_calls/*.json")]
    stats = llm.stats
    return {
        "requests": stats.calls,
        "tokens": stats.prompt_tokens / stats.calls,
        "estimated_max": max(log["prompt_size"]["estimated_tokens"] for log in logs),
        "hit": stats.cached_prompt_tokens / stats.prompt_tokens,
    }


def print_prompts(url: str) -> None:
    print("\ntop selection: two test files at once, one slot, batches of 3, max_prompt_tokens 3000")
    print(
        f"{'order':>22} {'requests':>9} {'tok/req':>8} {'est. max':>9} {'prefix hit':>11} {'vs':>6}"
    )
    base = top_prompts(url, back_to_back=False)
    for name, figures in (
        ("files alternating", base),
        ("one file back to back", top_prompts(url, back_to_back=True)),
    ):
        ratio = figures["hit"] / base["hit"] if base["hit"] else float("inf")
        print(
            f"{name:>22} {figures['requests']:>9.0f} {figures['tokens']:>8.0f}"
            f" {figures['estimated_max']:>9.0f} {figures['hit']:>10.0%} {ratio:>5.2f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=48)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per reply")
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    with serve(latency=options.latency) as server:
        results = {c: [throughput(server.url, c, options.requests)] for c in SETTINGS}
        for _ in range(options.repeat - 1):
            for concurrency in SETTINGS:
                results[concurrency].append(throughput(server.url, concurrency, options.requests))
    base = statistics.median(results[1])
    ideal = 1 / options.latency
    print(
        f"{options.requests} requests, {options.latency:.2f}s latency, median of {options.repeat}"
    )
    print(f"{'concurrency':>11} {'req/s':>8} {'vs 1':>6} {'ideal req/s':>12}")
    for concurrency in SETTINGS:
        rate = statistics.median(results[concurrency])
        print(f"{concurrency:>11} {rate:>8.2f} {rate / base:>5.2f}x {ideal * concurrency:>12.2f}")
    with serve(latency=0.05) as server:
        print_prompts(server.url)


if __name__ == "__main__":
    main()
