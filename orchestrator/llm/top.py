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
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import msgspec

from orchestrator.extract.masking import locate
from orchestrator.llm.budget import cut, room, test_excerpt
from orchestrator.llm.client import LLM, LLMError
from orchestrator.llm.prompts import Prompt, load_prompt
from orchestrator.pipeline.traces import Candidate

PROMPT = "top_selection"
_SOURCE_CHARS = 4000  # per candidate: enough to judge
_JSON = re.compile(r"\{.*\}", re.DOTALL)
_RETRY = (
    "\n\nYour previous reply could not be used ({problem})."
    " Reply with the JSON object only, naming candidates exactly as listed: {keys}."
)
# What was wrong, within the 500 characters _reserve keeps beside the listed names: a reply
# may name hundreds of invented objects, and the second prompt must fit the budget too.
_PROBLEM_CHARS = 300


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
    resolved: dict[str, str] = field(default_factory=dict)  # a near-miss name -> its key
    ambiguous: dict[str, list[str]] = field(default_factory=dict)  # a name -> the keys it fits
    fallback: str | None = None  # why the offline selector decided this batch
    error: str | None = None  # the request failed for good: infrastructure, not a verdict


@dataclass(frozen=True)
class Question:
    """What every batch of one test file is asked with."""

    llm: LLM
    template: Prompt
    library: str
    file: str
    files: dict[str, str]
    reach: dict[str, set[str]]  # candidate key -> the file's tests that reach it
    cached: bool


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
    reach: dict[str, set[str]] | None = None,
) -> list[BatchResult]:
    """Ask the model about every eligible candidate, in batches that fit the prompt budget.

    The file's requests go back to back (``llm.turn``), nearest candidates first.
    """
    ask = Question(llm, prompt(), library, file, files, reach or {}, cached)
    space = room(llm, ask.template, _variables(ask, "", "")) - _reserve(eligible, batchsize)
    described = {c.key: _describe(c, files, space // 2) for c in eligible}
    batches = _pack(eligible, described, batchsize, space // 2)
    questions = [_question(ask, batch, described, space) for batch in batches]
    with llm.turn, ThreadPoolExecutor(max_workers=llm.config.concurrency) as pool:
        return list(pool.map(lambda pair: _ask(ask, *pair), zip(batches, questions, strict=True)))


def _pack(
    eligible: list[Candidate], described: dict[str, str], batchsize: int, limit: int
) -> list[list[Candidate]]:
    """Batches of at most ``batchsize`` whose descriptions fit ``limit``, nearest first."""
    batches: list[list[Candidate]] = []
    size = 0
    for candidate in sorted(eligible, key=lambda c: (c.depth, -c.specificity, c.key)):
        length = len(described[candidate.key]) + 2
        if not batches or len(batches[-1]) >= batchsize or size + length > limit:
            batches.append([])
            size = 0
        batches[-1].append(candidate)
        size += length
    return batches


def _reserve(eligible: list[Candidate], batchsize: int) -> int:
    """Room kept for labels and for the note a second request adds (why, and the names)."""
    longest = max((len(c.path) + len(c.qualname) + 6 for c in eligible), default=0)
    return 500 + 2 * batchsize * longest


def _variables(ask: Question, test_source: str, candidates: str) -> dict[str, str]:
    return {
        "library": ask.library,
        "test_file": ask.file,
        "test_source": test_source,
        "candidates": candidates,
    }


def _question(
    ask: Question, batch: list[Candidate], described: dict[str, str], space: int
) -> dict[str, str]:
    """The prompt's variables for ``batch``: its candidates, and the tests that reach them."""
    labels = _labels(batch)
    listed = "\n\n".join(_labelled(described[c.key], c, labels) for c in batch)
    tests = set().union(*(ask.reach.get(c.key, set()) for c in batch))
    excerpt = test_excerpt(ask.files, ask.file, tests, space - len(listed))
    return _variables(ask, excerpt, listed)


def _ask(ask: Question, batch: list[Candidate], variables: dict[str, str]) -> BatchResult:
    labels = _labels(batch)
    result = BatchResult(min(c.depth for c in batch), [c.key for c in batch])
    problem = ""
    for attempt in (1, 2):  # an unusable reply is asked again once, saying what was wrong
        asked = dict(variables)
        if problem:
            keys = ", ".join(json.dumps(label) for label in labels.values())
            asked["candidates"] += _RETRY.format(problem=_shorten(problem), keys=keys)
        try:
            text = ask.llm.complete(ask.template, asked, ask.cached)
        except LLMError as exc:
            result.error = str(exc)
            result.fallback = f"the request failed: {exc}"
            return result
        selection, problem = _decode(text)
        if selection is not None:
            problem = _apply(result, selection, batch, labels)
            if not problem or (attempt == 2 and result.selected):
                return result
    result.fallback = f"the reply was malformed twice ({problem})"
    result.selected, result.reasons = [], {}
    return result


def _shorten(problem: str) -> str:
    return problem if len(problem) <= _PROBLEM_CHARS else problem[: _PROBLEM_CHARS - 5] + " ..."


def _apply(
    result: BatchResult, selection: Selection, batch: list[Candidate], labels: dict[str, str]
) -> str:
    """Fill ``result`` from the reply; returns what makes it unusable, or ''."""
    result.selected, result.unknown, result.resolved, result.ambiguous = [], [], {}, {}
    for name in selection.selected:
        keys = resolve(name, batch, labels)
        if len(keys) == 1:
            if keys[0] not in result.selected:
                result.selected.append(keys[0])
            if name != labels[keys[0]]:
                result.resolved[name] = keys[0]
        elif keys:
            result.ambiguous[name] = keys
        else:
            result.unknown.append(name)
    result.reasons = {}
    for name, why in selection.reasons.items():
        keys = resolve(name, batch, labels)
        if len(keys) == 1:
            result.reasons[keys[0]] = why
    if result.ambiguous:
        fits = "; ".join(
            f"{name!r} could be {', '.join(labels[k] for k in keys)}"
            for name, keys in result.ambiguous.items()
        )
        return f"ambiguous names: {fits}"
    if result.unknown and not result.selected:
        return f"it names no candidate: {', '.join(map(repr, result.unknown))}"
    return ""


def resolve(name: str, batch: list[Candidate], labels: dict[str, str]) -> list[str]:
    """The keys of the candidates ``name`` can mean: one when it resolves, several when
    ambiguous, none when unknown. Near misses resolve when one candidate alone fits."""
    clean = name.strip().strip("`'\" ").removesuffix("()")
    exact = [key for key, label in labels.items() if label == clean]
    if exact:
        return exact
    qual = clean.rsplit("::", 1)[-1]  # path::qualname with another path spelling
    last = qual.rsplit(".", 1)[-1]
    rules: tuple[Callable[[Candidate], bool], ...] = (
        lambda c: c.qualname == qual,
        lambda c: qual.endswith("." + c.qualname),  # a module prefix: toolz.merge_with
        lambda c: c.qualname.startswith(last + "."),  # a class named for its method
        lambda c: c.qualname.rsplit(".", 1)[-1] == last,  # a bare or a base class's method
    )
    for rule in rules:
        found = [c.key for c in batch if rule(c)]
        if found:
            return found
    return []


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


def _describe(candidate: Candidate, files: dict[str, str], limit: int) -> str:
    """The candidate's source under a placeholder for its label, within ``limit``."""
    found = locate(files.get(candidate.path, ""), candidate.qualname, candidate.path)
    source = found.source[:_SOURCE_CHARS] if found else "(source not found)"
    head = {
        "qualname": "@LABEL@",
        "path": candidate.path,
        "depth": candidate.depth,
        "share": candidate.specificity,
    }
    text = f"### {json.dumps(head)}\n```python\n{source.rstrip()}\n```"
    return cut(text, limit)


def _labelled(described: str, candidate: Candidate, labels: dict[str, str]) -> str:
    return described.replace("@LABEL@", labels[candidate.key].replace('"', ""), 1)


def agreement(offline: set[str], llm: set[str]) -> dict[str, object]:
    """Both choices, their overlap and, when both chose, the offline choice's precision,
    recall and F1 taking the LLM's as the truth (one side choosing nothing is no figure)."""
    hits = offline & llm
    found: dict[str, object] = {
        "offline": sorted(offline),
        "llm": sorted(llm),
        "overlap": sorted(hits),
        "offline_count": len(offline),
        "llm_count": len(llm),
        "overlap_count": len(hits),
    }
    if offline and llm:
        precision, recall = len(hits) / len(offline), len(hits) / len(llm)
        f1 = 2 * precision * recall / (precision + recall) if hits else 0.0
        found |= {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}
    return found


def mean_agreement(per_file: dict[str, dict[str, Any]]) -> dict[str, object]:
    """The mean of precision, recall and F1 over the files where both sides chose."""
    both = [figures for figures in per_file.values() if "f1" in figures]
    mean = {
        name: round(sum(f[name] for f in both) / len(both), 4)
        for name in ("precision", "recall", "f1")
        if both
    }
    return {
        "mean": mean,
        "mean_over": f"{len(both)} of {len(per_file)} files (those where both sides chose)",
        "files_both_chose": len(both),
        "files": per_file,
    }
