"""Stage top: for each fail-to-pass file, the objects its tests exercise as the feature.

The offline selector reads the dynamic traces. A project function is a
candidate when the file's tests reach it within ``max_depth_top`` calls. It
is eligible when it is specific to this file (most of the tests in the suite
that reach it are this file's); functions called at import time are never
chosen (removing them would break importing), nor are protocol dunders other
than ``__init__`` and ``__call__`` that tests of other files reach (the rest
of the code relies on them), nor functions nested in others (they go with the
function that defines them).

Eligible candidates are chosen greedily by how many of the file's tests they
reach that the objects chosen so far do not (ties: nearer and more specific
first), until the chosen objects reach enough of the file's tests for the
masked file to fail as ``f2p_pass_rate_threshold`` asks, with a margin; then
the candidates wholly specific to the file and near its tests join them. A
class is chosen instead of its methods when two or more of them are. Every
candidate's numbers and the reason for the verdict go to
``debug_outputs/top_classification/``.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Any

import msgspec

from orchestrator.extract.worktrees import python_files
from orchestrator.llm import top as llm_top
from orchestrator.pipeline.engine import Outcome, RunContext, SpecState, WorkItem, caching_enabled
from orchestrator.pipeline.repos import Checkout
from orchestrator.pipeline.specs import RepoSpec
from orchestrator.pipeline.status import locked_update
from orchestrator.pipeline.storage import write_json
from orchestrator.pipeline.traces import Candidate, FileTrace, Row
from orchestrator.stages.data_status import note_dropped

MAX_TOP_OBJECTS = 40  # a bound on one case's size, whatever the coverage
MIN_SPECIFICITY = 0.5
WHOLLY, NEAR = 0.9, 2  # also chosen, once enough tests are reached: the feature's other parts
COVERAGE_MARGIN = 0.1  # reach this much more than the threshold asks: some tests pass anyway
_KEPT_DUNDERS = ("__init__", "__call__")


class TopStage:
    name = "top"
    version = 4  # 2: by coverage of the file's tests; 3: fails below the threshold; 4: dunders
    depends_on: tuple[str, ...] = ("dynamic",)
    cache_key: str | None = "llm_cache"  # seed 000's key for top-selection results

    def items(self, ctx: RunContext, state: SpecState) -> list[WorkItem]:
        traces = state.values.get("traces", {})
        files = [path for path in state.values.get("f2p", []) if path in traces]
        spec = state.spec.settings
        inputs: dict[str, object] = {
            "max_depth_top": spec.max_depth_top,
            "f2p_pass_rate_threshold": spec.f2p_pass_rate_threshold,
        }
        if ctx.llm is not None:  # the model and prompt decide too: part of the key
            inputs["llm"] = ctx.llm.identity(llm_top.prompt())
            inputs["batchsize_top"] = spec.batchsize_top
            inputs["library"] = spec.library_name or spec.repository  # it is in the prompt
        return [WorkItem(path, {"file": path, **inputs}) for path in files]

    def run(self, ctx: RunContext, state: SpecState, item: WorkItem) -> Outcome:
        traces = state.values["traces"]
        spec = state.spec.settings
        found = select_top(
            item.key, traces, spec.max_depth_top, coverage_goal(spec.f2p_pass_rate_threshold)
        )
        offline = [c for c in found if c.chosen]
        if ctx.llm is None:
            return _outcome(found, offline, _why_no_case(offline, found, traces[item.key], spec))
        found, report = _decide_with_llm(ctx, state, item.key, found)
        chosen = [c for c in found if c.chosen]
        why = _why_no_case(chosen, found, traces[item.key], spec)
        differ = {c.key for c in chosen} != {c.key for c in offline}
        if why and differ and _why_no_case(offline, found, traces[item.key], spec) is None:
            report["model_choice_failed"] = f"{why}; the offline choice is used"
            chosen, why, differ = offline, None, False
        outcome = _outcome(found, chosen, why, report)
        if differ:  # data tries the offline choice when the model's cannot make a case
            outcome.data["offline_objects"] = top_objects(offline)
        outcome.keep = _told_failures(ctx, state, item.key, report)
        return outcome

    def apply(self, ctx: RunContext, state: SpecState, outcomes: dict[str, Outcome]) -> None:
        note_dropped(state.values, self.name, outcomes)
        state.values["top"] = {p: o.data for p, o in outcomes.items() if o.status == "ok"}
        kind = "llm_top_classification" if ctx.llm is not None else "top_classification"
        for path, outcome in outcomes.items():
            folder = ctx.root / "debug_outputs" / kind / state.name / file_hash(path)
            write_json(
                folder / "reasons.json",
                {"file": path, "status": outcome.status, **(outcome.data or {})},
            )
        if ctx.llm is not None:
            _write_agreement(ctx, state, outcomes)


def _outcome(
    found: list[Candidate],
    chosen: list[Candidate],
    why: str | None,
    report: dict[str, object] | None = None,
) -> Outcome:
    data: dict[str, object] = {} if report is None else {"llm": report}
    data |= {"top_objects": top_objects(chosen), "candidates": msgspec.to_builtins(found)}
    return Outcome("failed" if why else "ok", why, data=data)


def _why_no_case(
    chosen: list[Candidate], found: list[Candidate], trace: FileTrace, spec: RepoSpec
) -> str | None:
    """Why masking ``chosen`` could not make a case of the file, or None."""
    if not chosen:
        return "no object is specific to this file's tests"
    reach = _tests_reaching(trace, spec.max_depth_top)
    tests = set().union(*reach.values())
    covered = set().union(*(reach.get(c.key, set()) for c in chosen))
    needed = 1.0 - spec.f2p_pass_rate_threshold
    if len(covered) >= needed * len(tests):
        return None
    picked = {c.key for c in chosen}
    why = Counter(c.reason.split(":")[0] for c in found if c.key not in picked)
    common = ", ".join(f"{n} {r}" for r, n in why.most_common(2))
    return (
        f"the objects that can be removed reach only {len(covered)} of the file's"
        f" {len(tests)} passing tests (need {needed:.0%}); left out: {common}"
    )


def _told_failures(ctx: RunContext, state: SpecState, file: str, report: dict[str, Any]) -> bool:
    """Record the endpoint's failures as the run's errors; False when there were any.

    A batch the offline selector decided because the endpoint failed is no verdict of
    the model: the file's result is used in this run but not stored, so it is asked again.
    """
    errors = [b["error"] for b in report["batches"] if b["error"]]
    if not errors:
        return True
    ctx.error(ctx.llm.down or f"top: {state.name} {file}: {errors[0]}")
    ctx.warn(
        "top: batches the LLM endpoint failed were decided offline and are not cached;"
        " a rerun asks the model again"
    )
    return False


def _decide_with_llm(
    ctx: RunContext, state: SpecState, file: str, found: list[Candidate]
) -> tuple[list[Candidate], dict[str, Any]]:
    """The model's verdicts on the candidates the hard rules allow; offline where it fails."""
    checkout: Checkout = state.values["checkout"]
    spec = state.spec.settings
    offline = {c.key for c in found if c.chosen}
    eligible = [c for c in found if allowed(c)]  # the model chooses only what can make a case
    library = spec.library_name or spec.repository
    files = python_files(checkout.path)
    cached = caching_enabled(ctx, TopStage(), state)  # --debug "top=False" asks the model again
    reach = _tests_reaching(state.values["traces"][file], spec.max_depth_top)
    batches = llm_top.select_with_llm(
        ctx.llm, library, file, files, eligible, spec.batchsize_top, cached, reach
    )
    for batch in batches:
        for candidate in (c for c in eligible if c.key in batch.candidates):
            if batch.fallback:
                candidate.reason = f"offline, as {batch.fallback}: {candidate.reason}"
                continue
            candidate.chosen = candidate.key in batch.selected
            verdict = "selected" if candidate.chosen else "not selected"
            candidate.reason = f"LLM {verdict}: {batch.reasons.get(candidate.key, '')}"
    found.sort(key=lambda c: (not c.chosen, c.depth, -c.specificity, c.key))
    chosen = {c.key for c in found if c.chosen}
    report: dict[str, Any] = {
        "batches": [msgspec.to_builtins(b) for b in batches],
        "offline_vs_llm": llm_top.agreement(offline, chosen),
    }
    return found, report


def _write_agreement(ctx: RunContext, state: SpecState, outcomes: dict[str, Outcome]) -> None:
    """Both choices per file, and the mean agreement over the files where both chose."""
    per_file = {
        path: o.data["llm"]["offline_vs_llm"]
        for path, o in outcomes.items()
        if o.data and "llm" in o.data
    }
    locked_update(
        ctx.metadata / "llm_top_agreement.json", state.name, llm_top.mean_agreement(per_file)
    )


def coverage_goal(threshold: float) -> float:
    """The share of the file's tests the chosen objects should reach."""
    return min(1.0, 1.0 - threshold + COVERAGE_MARGIN)


def select_top(
    file: str, traces: dict[str, FileTrace], max_depth: int, goal: float = 1.0
) -> list[Candidate]:
    """Every candidate of ``file``, scored, with its verdict and reason, chosen first."""
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
    _decide(ranked, import_time, _tests_reaching(traces[file], max_depth), goal)
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


def _tests_reaching(trace: FileTrace, max_depth: int) -> dict[str, set[str]]:
    """function key -> the passing tests of the file that reach it within ``max_depth``."""
    reach: dict[str, set[str]] = {}
    for nodeid, test in trace.tests.items():
        if test.outcome != "passed":
            continue
        for row in test.calls:
            if row[3] <= max_depth:
                reach.setdefault(_key(row), set()).add(nodeid)
    return reach


def _decide(
    ranked: list[Candidate], import_time: set[str], reach: dict[str, set[str]], goal: float
) -> None:
    eligible = [c for c in ranked if not _excluded(c, import_time)]
    tests = set().union(*reach.values()) if reach else set()
    covered: set[str] = set()
    order: list[Candidate] = []
    while eligible and len(order) < MAX_TOP_OBJECTS and len(covered) < goal * len(tests):
        best = max(eligible, key=lambda c: len(reach.get(c.key, set()) - covered))
        gain = len(reach.get(best.key, set()) - covered)
        if gain == 0:
            break
        eligible.remove(best)
        covered |= reach.get(best.key, set())
        best.chosen = True
        best.reason = (
            f"specific ({best.specificity:.0%}) at depth {best.depth}; reaches {gain} more"
            f" tests ({len(covered)}/{len(tests)} so far)"
        )
        order.append(best)
    for candidate in list(eligible):  # the rest of the feature: wholly this file's, and near
        if (
            candidate.specificity >= WHOLLY
            and candidate.depth <= NEAR
            and len(order) < MAX_TOP_OBJECTS
        ):
            eligible.remove(candidate)
            candidate.chosen = True
            candidate.reason = f"specific ({candidate.specificity:.0%}) at depth {candidate.depth}"
            order.append(candidate)
    for candidate in eligible:
        candidate.reason = (
            f"not needed: the chosen objects reach {len(covered)} of the file's {len(tests)} tests"
        )
    ranked[:] = [*order, *(c for c in ranked if not c.chosen)]


def allowed(candidate: Candidate) -> bool:
    """Whether a candidate passed the hard rules and is specific enough to choose."""
    return not candidate.hard and candidate.specificity >= MIN_SPECIFICITY


def _excluded(candidate: Candidate, import_time: set[str]) -> bool:
    """Whether a candidate can never be chosen; its reason says why."""
    name = candidate.qualname.rsplit(".", 1)[-1]
    candidate.hard = True
    if candidate.key in import_time:
        candidate.reason = "runs at import time"
    elif "<locals>" in candidate.qualname:
        outer = candidate.qualname.split(".<locals>", 1)[0]
        candidate.reason = f"nested in {outer}: it goes with it"
    elif (
        name.startswith("__")
        and name.endswith("__")
        and name not in _KEPT_DUNDERS
        and candidate.specificity < 1.0  # no other test file reaches it: nothing else relies on it
    ):
        candidate.reason = "protocol method the rest of the code relies on"
    else:
        candidate.hard = False
    if candidate.hard:
        return True
    if candidate.specificity < MIN_SPECIFICITY:
        candidate.reason = (
            f"shared: only {candidate.specificity:.0%} of the tests reaching it are this file's"
        )
    else:
        return False
    return True


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
