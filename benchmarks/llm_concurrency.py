"""Throughput of the LLM client at concurrency 1 and 8, against a loopback server.

The server (tests/support/llm_server.py) answers every completion after a
fixed latency. N distinct requests go through :class:`orchestrator.llm.client.LLM`
from a pool of threads, as the top stage sends its batches; the client's
``concurrency`` setting is the only thing that changes. Printed: requests per
second at each setting and the ratio against concurrency 1 (the baseline).

    python benchmarks/llm_concurrency.py [--requests 48] [--latency 0.2] [--repeat 3]
"""

from __future__ import annotations

import argparse
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
from tests.support.llm_server import MODEL, serve  # noqa: E402

SETTINGS = (1, 8)


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
            }
            for i in range(requests)
        ]
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=16) as pool:  # more callers than slots
            list(pool.map(lambda job: llm.complete(prompt, job), jobs))
        elapsed = time.perf_counter() - started
    return requests / elapsed


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


if __name__ == "__main__":
    main()
