"""Stage top: for each fail-to-pass file, the objects its tests exercise as the feature.

The offline selector reads the dynamic traces. A project function is a
candidate when the file's tests reach it within ``max_depth_top`` calls. It
is chosen when it is specific to this file (most of the tests in the suite
that reach it are this file's) and near the tests; import-time functions are
never chosen (removing them would break importing), nor are protocol dunders
other than ``__init__`` and ``__call__``, nor functions nested in others (they
go with the function that defines them). A class is chosen instead of its
methods when two or more of them are. Every candidate's numbers and the
reason for the verdict go to ``debug_outputs/top_classification/``.
"""

from __future__ import annotations

import hashlib

import msgspec

from orchestrator.engine import Outcome, RunContext, SpecState, WorkItem
from orchestrator.stages.data_status import note_dropped
from orchestrator.stages.dynamic import FileTrace, Row
from orchestrator.storage import write_json

MAX_TOP_OBJECTS = 5
MIN_SPECIFICITY = 0.5
_KEPT_DUNDERS = ("__init__", "__call__")


class Candidate(msgspec.Struct, kw_only=True):
    key: str
    path: str
    qualname: str
    line: int
    depth: int
    file_tests: int
    suite_tests: int
    specificity: float
    score: float
    chosen: bool = False
    reason: str = ""


class TopStage:
    name = "top"
    version = 1
    depends_on: tuple[str, ...] = ("dynamic",)
    cache_key: str | None = "llm_cache"  # seed 000's key for top-selection results

    def items(self, ctx: RunContext, state: SpecState) -> list[WorkItem]:
        traces = state.values.get("traces", {})
        files = [path for path in state.values.get("f2p", []) if path in traces]
        depth = state.spec.settings.max_depth_top
        return [WorkItem(path, {"file": path, "max_depth_top": depth}) for path in files]

    def run(self, ctx: RunContext, state: SpecState, item: WorkItem) -> Outcome:
        traces = state.values["traces"]
        found = select_top(item.key, traces, state.spec.settings.max_depth_top)
        chosen = [c for c in found if c.chosen]
        data = {"top_objects": top_objects(chosen), "candidates": msgspec.to_builtins(found)}
        if not chosen:
            return Outcome("failed", "no object is specific to this file's tests", data=data)
        return Outcome("ok", data=data)

    def apply(self, ctx: RunContext, state: SpecState, outcomes: dict[str, Outcome]) -> None:
        note_dropped(state.values, self.name, outcomes)
        state.values["top"] = {p: o.data for p, o in outcomes.items() if o.status == "ok"}
        for path, outcome in outcomes.items():
            folder = (
                ctx.root / "debug_outputs" / "top_classification" / state.name / file_hash(path)
            )
            write_json(
                folder / "reasons.json",
                {"file": path, "status": outcome.status, **(outcome.data or {})},
            )


def select_top(file: str, traces: dict[str, FileTrace], max_depth: int) -> list[Candidate]:
    """Every candidate of ``file``, scored, with its verdict and reason."""
    import_time = {_key(row) for trace in traces.values() for row in trace.import_time}
    reach = _suite_reach(traces)
    candidates: dict[str, Candidate] = {}
    for test in traces[file].tests.values():
        for row in test.calls:
            key = _key(row)
            if row[3] > max_depth:
                continue
            known = candidates.get(key)
            if known is None:
                candidates[key] = _candidate(row, file, reach[key])
            else:
                known.depth = min(known.depth, row[3])
    for candidate in candidates.values():
        candidate.score = round(candidate.specificity / candidate.depth, 4)
    ranked = sorted(candidates.values(), key=lambda c: (-c.score, c.depth, c.key))
    _decide(ranked, import_time)
    return ranked


def _suite_reach(traces: dict[str, FileTrace]) -> dict[str, dict[str, set[str]]]:
    """function key -> test file -> the tests of that file that reach it."""
    reach: dict[str, dict[str, set[str]]] = {}
    for path, trace in traces.items():
        for nodeid, test in trace.tests.items():
            for row in test.calls:
                reach.setdefault(_key(row), {}).setdefault(path, set()).add(nodeid)
    return reach


def _candidate(row: Row, file: str, by_file: dict[str, set[str]]) -> Candidate:
    mine = len(by_file.get(file, ()))
    everyone = sum(len(tests) for tests in by_file.values())
    path, qualname, line, depth = row
    return Candidate(
        key=_key(row),
        path=path,
        qualname=qualname,
        line=line,
        depth=depth,
        file_tests=mine,
        suite_tests=everyone,
        specificity=round(mine / everyone, 4),
        score=0.0,
    )


def _decide(ranked: list[Candidate], import_time: set[str]) -> None:
    chosen = 0
    for candidate in ranked:
        name = candidate.qualname.rsplit(".", 1)[-1]
        if candidate.key in import_time:
            candidate.reason = "runs at import time"
        elif "<locals>" in candidate.qualname:
            outer = candidate.qualname.split(".<locals>", 1)[0]
            candidate.reason = f"nested in {outer}: it goes with it"
        elif name.startswith("__") and name.endswith("__") and name not in _KEPT_DUNDERS:
            candidate.reason = "protocol method the rest of the code relies on"
        elif candidate.specificity < MIN_SPECIFICITY:
            candidate.reason = (
                f"shared: only {candidate.specificity:.0%} of the tests reaching it are this file's"
            )
        elif chosen >= MAX_TOP_OBJECTS:
            candidate.reason = f"ranked below the first {MAX_TOP_OBJECTS}"
        else:
            candidate.chosen = True
            candidate.reason = f"specific ({candidate.specificity:.0%}) at depth {candidate.depth}"
            chosen += 1


def top_objects(chosen: list[Candidate]) -> list[dict[str, object]]:
    """Chosen functions, with methods folded into their class when two or more are chosen."""
    by_class: dict[tuple[str, str], list[Candidate]] = {}
    for candidate in chosen:
        owner, _, _ = candidate.qualname.rpartition(".")
        if owner:
            by_class.setdefault((candidate.path, owner), []).append(candidate)
    objects: list[dict[str, object]] = []
    folded = {c.key for members in by_class.values() if len(members) >= 2 for c in members}
    for (path, owner), members in sorted(by_class.items()):
        if len(members) >= 2:
            objects.append(
                {
                    "kind": "class",
                    "path": path,
                    "qualname": owner,
                    "methods": sorted(m.qualname for m in members),
                }
            )
    for candidate in chosen:
        if candidate.key not in folded:
            kind = (
                "method"
                if "." in candidate.qualname and "<locals>" not in candidate.qualname
                else "function"
            )
            objects.append(
                {
                    "kind": kind,
                    "path": candidate.path,
                    "qualname": candidate.qualname,
                    "line": candidate.line,
                }
            )
    return objects


def file_hash(path: str) -> str:
    return hashlib.sha256(path.encode()).hexdigest()[:12]


def _key(row: Row) -> str:
    return f"{row[0]}::{row[1]}:{row[2]}"
