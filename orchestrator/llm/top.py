"""Top-object selection by the LLM, with the offline selector as referee and fallback.

The candidates the hard rules allow (not called at import time, not nested,
not a protocol dunder) are sent layer by layer, nearest to the tests first,
in batches of ``batchsize_top``, each with its source and the test file. The
reply is decoded into :class:`Selection`. A malformed reply is asked again
once, saying what was wrong; after that, or when the request fails for good,
the offline selector decides for that batch and the reason is recorded.
Names the model invents are ignored and recorded too.
"""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import msgspec

from orchestrator.extract.masking import locate
from orchestrator.llm.client import LLM, LLMError
from orchestrator.llm.prompts import Prompt, load_prompt
from orchestrator.pipeline.traces import Candidate

PROMPT = "top_selection"
_SOURCE_CHARS = 4000  # per candidate: enough to judge, bounded so a batch fits any context
_TEST_CHARS = 12000
_JSON = re.compile(r"\{.*\}", re.DOTALL)


class Selection(msgspec.Struct):
    selected: list[str]
    reasons: dict[str, str] = {}


@dataclass
class BatchResult:
    depth: int
    candidates: list[str]  # candidate keys (path::qualname:line)
    selected: list[str] = field(default_factory=list)  # keys
    reasons: dict[str, str] = field(default_factory=dict)  # by key
    unknown: list[str] = field(default_factory=list)
    fallback: str | None = None  # why the offline selector decided this batch


def prompt() -> Prompt:
    return load_prompt(PROMPT)


def select_with_llm(
    llm: LLM,
    library: str,
    file: str,
    files: dict[str, str],
    eligible: list[Candidate],
    batchsize: int,
    cached: bool = True,
) -> list[BatchResult]:
    """Ask the model about every eligible candidate, batch by batch, layer by layer."""
    batches: list[list[Candidate]] = []
    for depth in sorted({c.depth for c in eligible}):
        layer = [c for c in eligible if c.depth == depth]
        batches += [layer[i : i + batchsize] for i in range(0, len(layer), batchsize)]
    test_source = files.get(file, "")[:_TEST_CHARS]
    template = prompt()

    def ask(batch: list[Candidate]) -> BatchResult:
        return _ask(llm, template, library, file, test_source, files, batch, cached)

    with ThreadPoolExecutor(max_workers=llm.config.concurrency) as pool:
        return list(pool.map(ask, batches))


def _ask(
    llm: LLM,
    template: Prompt,
    library: str,
    file: str,
    test_source: str,
    files: dict[str, str],
    batch: list[Candidate],
    cached: bool,
) -> BatchResult:
    labels = _labels(batch)
    result = BatchResult(batch[0].depth, [c.key for c in batch])
    variables = {
        "library": library,
        "test_file": file,
        "test_source": test_source,
        "depth": str(batch[0].depth),
        "candidates": _describe(batch, labels, files),
    }
    problem = ""
    for _ in range(2):  # a malformed reply is asked again once, saying what was wrong
        asked = dict(variables)
        if problem:
            asked["candidates"] += (
                f"\n\nYour previous reply could not be used ({problem})."
                " Reply with the JSON object only."
            )
        try:
            text = llm.complete(template, asked, cached)
        except LLMError as exc:
            result.fallback = f"the request failed: {exc}"
            return result
        selection, problem = _decode(text)
        if selection is not None:
            keys = {label: key for key, label in labels.items()}
            result.selected = [keys[name] for name in selection.selected if name in keys]
            result.unknown = [name for name in selection.selected if name not in keys]
            result.reasons = {keys[k]: v for k, v in selection.reasons.items() if k in keys}
            return result
    result.fallback = f"the reply was malformed twice ({problem})"
    return result


def _decode(text: str) -> tuple[Selection | None, str]:
    found = _JSON.search(text)
    if found is None:
        return None, "no JSON object in it"
    try:
        return msgspec.json.decode(found.group(0), type=Selection), ""
    except msgspec.DecodeError as exc:
        return None, str(exc)[:200]


def _labels(batch: list[Candidate]) -> dict[str, str]:
    """Candidate key -> the name the model sees: the qualname, or path::qualname if shared."""
    counts: dict[str, int] = {}
    for candidate in batch:
        counts[candidate.qualname] = counts.get(candidate.qualname, 0) + 1
    return {
        c.key: c.qualname if counts[c.qualname] == 1 else f"{c.path}::{c.qualname}" for c in batch
    }


def _describe(batch: list[Candidate], labels: dict[str, str], files: dict[str, str]) -> str:
    parts = []
    for candidate in batch:
        found = locate(files.get(candidate.path, ""), candidate.qualname, candidate.path)
        source = found.source[:_SOURCE_CHARS] if found else "(source not found)"
        head = {
            "qualname": labels[candidate.key],
            "path": candidate.path,
            "depth": candidate.depth,
            "share": candidate.specificity,
        }
        parts.append(f"### {json.dumps(head)}\n```python\n{source.rstrip()}\n```")
    return "\n\n".join(parts)


def agreement(offline: set[str], llm: set[str]) -> dict[str, float]:
    """Precision, recall and F1 of the offline choice, taking the LLM's as the truth."""
    hits = len(offline & llm)
    precision = hits / len(offline) if offline else float(not llm)
    recall = hits / len(llm) if llm else float(not offline)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}
