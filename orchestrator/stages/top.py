"""Stage top: for each fail-to-pass file, its units and the objects each unit tests.

A unit (:mod:`orchestrator.stages.top_units`, spec key ``case_unit``) is the
whole file, one of its test classes, or a group of its tests that share their
nearest object; each valid unit becomes its own candidate downstream.

The offline selector reads the dynamic traces. A project function is a
candidate when the unit's tests reach it within ``max_depth_top`` calls. It
is eligible when it is specific to the unit (most of the tests in the suite
that reach it are the unit's) and none of the file's other tests reach it
(they must keep passing); functions called at import time are never chosen
(removing them would break importing), nor are protocol dunders other than
``__init__`` and ``__call__`` that tests of other files reach (the rest of
the code relies on them), nor functions nested in others (they go with the
function that defines them).

Eligible candidates are chosen greedily by how many of the unit's tests they
reach that the objects chosen so far do not (ties: nearer and more specific
first). The first ones, until they reach the share of tests
``f2p_pass_rate_threshold`` asks for with a margin, are the core: a core over
``max_code_line_upper_bound`` lines drops the unit. The rest, and then the
candidates wholly specific to the unit and near its tests, join while they
fit the line budget drawn for the unit and ``max_top_objects``. A class is
chosen instead of its methods when two or more of them are. Every
candidate's numbers and the reason for the verdict go to
``debug_outputs/top_classification/``.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Any

import msgspec

from orchestrator.extract.classify import draw_budget
from orchestrator.extract.worktrees import python_files
from orchestrator.llm import top as llm_top
from orchestrator.pipeline.engine import Outcome, RunContext, SpecState, WorkItem, caching_enabled
from orchestrator.pipeline.repos import Checkout
from orchestrator.pipeline.specs import RepoSpec
from orchestrator.pipeline.status import locked_update
from orchestrator.pipeline.storage import write_json
from orchestrator.pipeline.traces import Candidate, FileTrace, Row
from orchestrator.stages import top_units as units
from orchestrator.stages.data_status import note_dropped
from orchestrator.stages.p2p import own_file, p2p_files_avoiding

MIN_SPECIFICITY = 0.5
WHOLLY, NEAR = 0.9, 2  # also chosen, within the budget: the feature's other parts
COVERAGE_MARGIN = 0.1  # the core reaches this much more than the threshold asks
_KEPT_DUNDERS = ("__init__", "__call__")


class UnitChoice(msgspec.Struct, kw_only=True):
    """One unit, the objects chosen for it, and whether it can become a case."""

    key: str
    file: str
    unit: str
    tests: list[str]
    status: str  # ok or failed
    reason: str = ""
    top_objects: list[dict[str, object]] = []
    budget: int = 0  # the line budget the data stage removes within
    core_lines: int = 0
    candidates: list[Candidate] = []
    llm: dict[str, object] | None = None


class TopStage:
    name = "top"
    version = 6  # 2: coverage; 3: threshold; 4: dunders; 5: units, caps, budget; 6: P2P files
    depends_on: tuple[str, ...] = ("dynamic",)
    cache_key: str | None = "llm_cache"  # seed 000's key for top-selection results

    def items(self, ctx: RunContext, state: SpecState) -> list[WorkItem]:
        traces = state.values.get("traces", {})
        files = [path for path in state.values.get("f2p", []) if path in traces]
        spec = state.spec.settings
        inputs: dict[str, object] = {
            key: getattr(spec, key)
            for key in (
                "max_depth_top",
                "f2p_pass_rate_threshold",
                "case_unit",
                "max_top_objects",
                "min_test_num",
                "max_code_line_lower_bound",
                "max_code_line_upper_bound",
                "min_p2p_files",
            )
        }
        inputs["seed"] = ctx.seed  # draws each unit's line budget
        inputs["p2p"] = sorted(state.values.get("p2p", []))  # a unit needs enough to check it
        if ctx.llm is not None:  # the model and prompt decide too: part of the key
            inputs["llm"] = ctx.llm.identity(llm_top.prompt())
            inputs["batchsize_top"] = spec.batchsize_top
            inputs["library"] = spec.library_name or spec.repository  # it is in the prompt
        return [WorkItem(path, {"file": path, **inputs}) for path in files]

    def run(self, ctx: RunContext, state: SpecState, item: WorkItem) -> Outcome:
        choices, passed_over = _choose_units(ctx, state, item.key)
        data: dict[str, object] = {"units": [msgspec.to_builtins(c) for c in choices]}
        if passed_over:  # why the whole file is not a unit, though smaller ones are
            data["file_unit"] = passed_over
        if ctx.llm is not None:
            data["llm"] = _llm_summary(choices)
        valid = [c for c in choices if c.status == "ok"]
        if not valid:
            return Outcome("failed", choices[0].reason, data=data)
        return Outcome("ok", data=data)

    def apply(self, ctx: RunContext, state: SpecState, outcomes: dict[str, Outcome]) -> None:
        note_dropped(state.values, self.name, outcomes)
        state.values["top"] = _valid_units(state, outcomes)
        kind = "llm_top_classification" if ctx.llm is not None else "top_classification"
        for path, outcome in outcomes.items():
            folder = ctx.root / "debug_outputs" / kind / state.name / file_hash(path)
            write_json(
                folder / "reasons.json",
                {"file": path, "status": outcome.status, **(outcome.data or {})},
            )
        if ctx.llm is not None:
            _write_agreement(ctx, state, outcomes)


def _valid_units(state: SpecState, outcomes: dict[str, Outcome]) -> dict[str, dict[str, Any]]:
    """unit key -> its choice, newest file first, at most ``max_f2p_num`` units.

    The failed units of files that gave a valid one are noted as dropped.
    """
    limit = state.spec.settings.max_f2p_num
    dropped = state.values.setdefault("dropped", {})
    units: dict[str, dict[str, Any]] = {}
    for path in (p for p in state.values.get("f2p", []) if p in outcomes):
        outcome = outcomes[path]
        if outcome.status != "ok":
            continue
        for unit in outcome.data["units"]:
            if unit["status"] != "ok":
                dropped[unit["key"]] = _dropped("top", unit["reason"])
            elif limit != -1 and len(units) >= limit:
                why = f"over max_f2p_num ({limit} units); raise max_f2p_num"
                dropped[unit["key"]] = _dropped("top", why)
            else:
                units[unit["key"]] = unit
    return units


def _dropped(stage: str, reason: str) -> dict[str, str]:
    return {"status": "dropped", "stage": stage, "reason": reason}


def _choose_units(ctx: RunContext, state: SpecState, file: str) -> tuple[list[UnitChoice], str]:
    """The units ``case_unit`` asks for; ``auto``: the file, else its classes and groups.

    Also why ``auto`` passed over the whole file, when it did.
    """
    spec = state.spec.settings
    trace: FileTrace = state.values["traces"][file]
    mode = spec.case_unit
    whole = _choose(ctx, state, units.file_unit(file, trace), ask_llm=mode in ("file", "auto"))
    if mode == "file" or (mode == "auto" and whole.status == "ok"):
        return [whole], ""
    found: list[UnitChoice] = []
    if mode in ("class", "auto"):
        found += [_choose(ctx, state, u) for u in units.class_units(file, trace, spec.min_test_num)]
    if mode in ("group", "auto"):
        taken = {t for c in found if c.status == "ok" for t in c.tests}
        rest = [t for t in units.passing(trace) if t not in taken]
        eligible = [c for c in whole.candidates if not c.hard and c.specificity >= MIN_SPECIFICITY]
        groups = units.group_units(file, rest, trace, eligible, spec.min_test_num)
        found += [
            _choose(ctx, state, u)
            for u in groups
            if mode == "group" or list(u.tests) != whole.tests
        ]
    if mode == "auto" and not any(c.status == "ok" for c in found):
        whole.reason += "; no test class or group of its tests qualifies either"
        return [whole], ""
    return (found or [_no_units(whole, mode)]), whole.reason if mode == "auto" else ""


def _no_units(whole: UnitChoice, mode: str) -> UnitChoice:
    what = "test class" if mode == "class" else "group of tests sharing an object"
    whole.status = "failed"
    whole.reason = f"no {what} with min_test_num tests; case_unit = 'file' or 'auto' takes the file"
    return whole


def _choose(
    ctx: RunContext, state: SpecState, unit: units.Unit, ask_llm: bool = True
) -> UnitChoice:
    """The objects for one unit, or why it cannot be a case."""
    spec = state.spec.settings
    traces: dict[str, FileTrace] = state.values["traces"]
    limits = _limits(ctx, state, unit)
    found, lines = select_top(unit, traces, limits, _files(state))
    choice = UnitChoice(
        key=unit.key, file=unit.file, unit=unit.name, tests=list(unit.tests), status="ok"
    )
    if ctx.llm is not None and ask_llm:
        found, choice.llm = _decide_with_llm(ctx, state, unit.file, found)
    chosen = [c for c in found if c.chosen]
    choice.top_objects, choice.candidates = top_objects(chosen), found
    choice.core_lines = lines
    choice.budget = max(limits.budget, sum(_sizes(state, chosen).values()))
    reason = _shortfall(unit, chosen, found, traces, limits, spec, lines)
    reason = reason or _p2p_shortfall(state, unit, choice.top_objects)
    if reason:
        choice.status, choice.reason = "failed", reason
    return choice


def _limits(ctx: RunContext, state: SpecState, unit: units.Unit) -> units.Limits:
    spec = state.spec.settings
    lower, upper = spec.max_code_line_lower_bound, spec.max_code_line_upper_bound
    return units.Limits(
        max_depth=spec.max_depth_top,
        goal=coverage_goal(spec.f2p_pass_rate_threshold),
        needed=1.0 - spec.f2p_pass_rate_threshold,
        max_objects=spec.max_top_objects,
        budget=draw_budget(ctx.seed, state.name, unit.key, lower, upper),
        upper=upper,
    )


def _files(state: SpecState) -> dict[str, str]:
    """The checkout's Python files, read once per run (top only reads them)."""
    if "top_files" not in state.values:
        checkout: Checkout = state.values["checkout"]
        state.values["top_files"] = python_files(checkout.path)
    files: dict[str, str] = state.values["top_files"]
    return files


def _sizes(state: SpecState, chosen: list[Candidate]) -> dict[str, int]:
    return units.candidate_lines(_files(state), chosen)


def _shortfall(
    unit: units.Unit,
    chosen: list[Candidate],
    found: list[Candidate],
    traces: dict[str, FileTrace],
    limits: units.Limits,
    spec: RepoSpec,
    core: int,
) -> str:
    """Why the chosen objects cannot make a case of the unit, naming the key to change."""
    if not chosen:
        why = _left_out(found)
        return f"no object is specific to the unit's tests ({why}){_smaller_units(spec)}"
    reach = _tests_reaching(traces[unit.file], limits.max_depth, set(unit.tests))
    tests = set().union(*reach.values())
    covered = set().union(*(reach.get(c.key, set()) for c in chosen))
    if len(covered) < limits.needed * len(tests):  # masking these could never fail enough
        return (
            f"the objects that can be removed reach only {len(covered)} of the unit's"
            f" {len(tests)} passing tests (need {limits.needed:.0%}, set by"
            f" f2p_pass_rate_threshold); left out: {_left_out(found)}{_hint(found, spec)}"
        )
    if core > limits.upper:
        return f"over the line budget ({core} > {limits.upper}); raise max_code_line_upper_bound"
    return ""


def _p2p_shortfall(state: SpecState, unit: units.Unit, objects: list[dict[str, object]]) -> str:
    """Why too few pass-to-pass files could check the unit: then ``auto`` tries smaller units.

    A unit below the file has the file's other tests as one pass-to-pass file.
    """
    need = state.spec.settings.min_p2p_files
    traces: dict[str, FileTrace] = state.values["traces"]
    found = p2p_files_avoiding(state, unit.file, objects)
    own = own_file(traces[unit.file], list(unit.tests))
    if len(found) + own >= need:
        return ""
    return (
        f"only {len(found) + own} pass-to-pass files avoid its objects; need {need} (min_p2p_files)"
    )


def _left_out(found: list[Candidate]) -> str:
    why = Counter(c.reason.split(":")[0].split(" (")[0] for c in found if not c.chosen)
    return ", ".join(f"{n} {r}" for r, n in why.most_common(2)) or "none reached"


def _hint(found: list[Candidate], spec: RepoSpec) -> str:
    """The key that would let more objects in, when one would."""
    reasons = [c.reason for c in found if not c.chosen]
    if any(r.startswith("left out: max_top_objects") for r in reasons):
        return "; raise max_top_objects"
    if any(r.startswith("over the line budget") for r in reasons):
        return "; raise max_code_line_upper_bound"
    return _smaller_units(spec)


def _smaller_units(spec: RepoSpec) -> str:
    return "; case_unit = 'auto' tries classes and groups" if spec.case_unit == "file" else ""


def _decide_with_llm(
    ctx: RunContext, state: SpecState, file: str, found: list[Candidate]
) -> tuple[list[Candidate], dict[str, object]]:
    """The model's verdicts on the candidates the hard rules allow; offline where it fails."""
    checkout: Checkout = state.values["checkout"]
    spec = state.spec.settings
    offline = {c.key for c in found if c.chosen}
    eligible = [c for c in found if not c.hard]
    library = spec.library_name or spec.repository
    files = python_files(checkout.path)
    cached = caching_enabled(ctx, TopStage(), state)  # --debug "top=False" asks the model again
    batches = llm_top.select_with_llm(
        ctx.llm, library, file, files, eligible, spec.batchsize_top, cached
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
    report: dict[str, object] = {
        "batches": [msgspec.to_builtins(b) for b in batches],
        "offline_vs_llm": llm_top.agreement(offline, chosen),
    }
    return found, report


def _write_agreement(ctx: RunContext, state: SpecState, outcomes: dict[str, Outcome]) -> None:
    """Precision, recall and F1 of the offline selector against the LLM, per file and mean."""
    per_file = {
        path: o.data["llm"]["offline_vs_llm"]
        for path, o in outcomes.items()
        if o.data and "llm" in o.data
    }
    mean = (
        {
            name: round(sum(m[name] for m in per_file.values()) / len(per_file), 4)
            for name in ("precision", "recall", "f1")
        }
        if per_file
        else {}
    )
    locked_update(
        ctx.metadata / "llm_top_agreement.json", state.name, {"mean": mean, "files": per_file}
    )


def _llm_summary(choices: list[UnitChoice]) -> dict[str, object]:
    """The model's batches over every unit, and the mean agreement with the offline choice."""
    reports = [c.llm for c in choices if c.llm]
    metrics: list[dict[str, float]] = [r["offline_vs_llm"] for r in reports]  # type: ignore[misc]
    mean = {
        name: round(sum(m[name] for m in metrics) / len(metrics), 4)
        for name in ("precision", "recall", "f1")
    }
    return {"batches": [b for r in reports for b in r["batches"]], "offline_vs_llm": mean}  # type: ignore[attr-defined]


def coverage_goal(threshold: float) -> float:
    """The share of the unit's tests the core objects should reach."""
    return min(1.0, 1.0 - threshold + COVERAGE_MARGIN)


def select_top(
    unit: units.Unit, traces: dict[str, FileTrace], limits: units.Limits, files: dict[str, str]
) -> tuple[list[Candidate], int]:
    """Every candidate of ``unit``, scored, with its verdict and reason, chosen first;
    and the lines of the core objects."""
    import_time = {_key(row) for trace in traces.values() for row in trace.import_time}
    reach = _suite_reach(traces)
    mine = set(unit.tests)
    candidates: dict[str, Candidate] = {}
    for nodeid in unit.tests:
        for row in traces[unit.file].tests[nodeid].calls:
            key = _key(row)
            if row[3] > limits.max_depth:
                continue
            known = candidates.get(key)
            if known is None:
                candidates[key] = _candidate(row, unit.file, mine, reach[key])
            else:
                known.depth = min(known.depth, row[3])
    for candidate in candidates.values():
        candidate.score = round(candidate.specificity / candidate.depth, 4)
    ranked = sorted(candidates.values(), key=lambda c: (-c.score, c.depth, c.key))
    trace = traces[unit.file]
    others = _tests_reaching(trace, limits.max_depth, set(units.passing(trace)) - mine)
    eligible = [c for c in ranked if not _excluded(c, import_time, others)]
    sizes = units.candidate_lines(files, eligible)
    core = _decide(ranked, eligible, _tests_reaching(trace, limits.max_depth, mine), limits, sizes)
    return ranked, core


def _suite_reach(traces: dict[str, FileTrace]) -> dict[str, dict[str, set[str]]]:
    """function key -> test file -> the tests of that file that reach it."""
    reach: dict[str, dict[str, set[str]]] = {}
    for path, trace in traces.items():
        for nodeid, test in trace.tests.items():
            for row in test.calls:
                reach.setdefault(_key(row), {}).setdefault(path, set()).add(nodeid)
    return reach


def _candidate(row: Row, file: str, unit: set[str], by_file: dict[str, set[str]]) -> Candidate:
    mine = len(by_file.get(file, set()) & unit)
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


def _tests_reaching(trace: FileTrace, max_depth: int, tests: set[str]) -> dict[str, set[str]]:
    """function key -> which of ``tests`` (passing tests of the file) reach it."""
    reach: dict[str, set[str]] = {}
    for nodeid, test in trace.tests.items():
        if test.outcome != "passed" or nodeid not in tests:
            continue
        for row in test.calls:
            if row[3] <= max_depth:
                reach.setdefault(_key(row), set()).add(nodeid)
    return reach


def _decide(
    ranked: list[Candidate],
    eligible: list[Candidate],
    reach: dict[str, set[str]],
    limits: units.Limits,
    sizes: dict[str, int],
) -> int:
    """Choose greedily among ``eligible``; returns the lines of the core objects."""
    pick = _Picking(reach, limits, sizes)
    while eligible and not pick.full():
        best = max(eligible, key=pick.gain)
        if pick.gain(best) == 0:
            break
        eligible.remove(best)
        pick.take(best, f"reaches {pick.gain(best)} more tests")
    for candidate in list(eligible):  # the rest of the feature: wholly the unit's, and near
        if candidate.specificity >= WHOLLY and candidate.depth <= NEAR and not pick.full():
            eligible.remove(candidate)
            pick.take(candidate, "")
    for candidate in eligible:
        candidate.reason = pick.why_not()
    ranked[:] = [*pick.order, *(c for c in ranked if not c.chosen)]
    return pick.core if pick.core is not None else pick.lines


class _Picking:
    """The objects chosen so far for a unit, the tests they reach and their lines."""

    def __init__(self, reach: dict[str, set[str]], limits: units.Limits, sizes: dict[str, int]):
        self.reach, self.limits, self.sizes = reach, limits, sizes
        self.tests: set[str] = set().union(*reach.values()) if reach else set()
        self.covered: set[str] = set()
        self.order: list[Candidate] = []
        self.lines = 0
        self.core: int | None = None  # lines once the core share of tests is reached

    def gain(self, candidate: Candidate) -> int:
        return len(self.reach.get(candidate.key, set()) - self.covered)

    def full(self) -> bool:
        return len(self.order) >= self.limits.max_objects

    def take(self, candidate: Candidate, gain: str) -> None:
        size = self.sizes.get(candidate.key, 0)
        budget = max(self.limits.budget, self.core or 0)
        if self.core is not None and self.lines + size > budget:  # past the core: budget bites
            candidate.reason = (
                f"over the line budget ({self.lines + size} > {budget});"
                " raise max_code_line_upper_bound"
            )
            return
        self.covered |= self.reach.get(candidate.key, set())
        self.lines += size
        candidate.chosen = True
        reached = f"; {gain} ({len(self.covered)}/{len(self.tests)} so far)" if gain else ""
        candidate.reason = (
            f"specific ({candidate.specificity:.0%}) at depth {candidate.depth}, {size} lines"
            + reached
        )
        self.order.append(candidate)
        if self.core is None and len(self.covered) >= self.limits.goal * len(self.tests):
            self.core = self.lines

    def why_not(self) -> str:
        if self.full():
            cap = self.limits.max_objects
            return f"left out: max_top_objects ({cap}) reached; raise max_top_objects"
        return (
            f"not needed: the chosen objects reach {len(self.covered)} of the unit's"
            f" {len(self.tests)} tests and every test it reaches"
        )


def _excluded(candidate: Candidate, import_time: set[str], others: dict[str, set[str]]) -> bool:
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
    elif others.get(candidate.key):
        count = len(others[candidate.key])
        candidate.reason = f"reached by {count} of the file's other tests (they must pass)"
    else:
        candidate.hard = False
    if candidate.hard:
        return True
    if candidate.specificity < MIN_SPECIFICITY:
        candidate.reason = (
            f"shared: only {candidate.specificity:.0%} of the tests reaching it are the unit's"
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
