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
from orchestrator.pipeline.traces import Candidate, FileTrace
from orchestrator.stages import top_units as units
from orchestrator.stages.data_status import note_dropped
from orchestrator.stages.p2p import own_file, p2p_files_avoiding
from orchestrator.stages.top_select import (
    MIN_SPECIFICITY,
    OTHERS,
    coverage_goal,
    select_top,
    tests_reaching,
    top_objects,
)


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
    # In LLM mode, when the model's objects differ: the data stage tries these next.
    offline_objects: list[dict[str, object]] = []
    fallbacks: list[dict[str, Any]] = []  # auto: the smaller units, if the file drops in data


class TopStage:
    name = "top"
    version = 13  # 2: coverage; 3: threshold; 4: dunders; 5: units, caps, budget; 6: P2P; 7: wide
    # 8: budgets count classes whole; 9: wide classes; 10, 11: auto's fallbacks for data
    # 12: failed groups split again, and widened by an object short of the whole file;
    # 13: split units named {group}--{object}; the LLM endpoint's failures per file
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
        outcome = Outcome("ok" if valid else "failed", None if valid else choices[0].reason)
        outcome.data = data
        # Made while the LLM endpoint failed: used in this run, asked again in the next. The
        # file's flag, not its choices': a failed unit tried and set aside leaves no choice.
        outcome.keep = item.key not in state.values.get("top_llm_failed", set())
        return outcome

    def apply(self, ctx: RunContext, state: SpecState, outcomes: dict[str, Outcome]) -> None:
        note_dropped(state.values, self.name, outcomes)
        state.values["top"] = _valid_units(state, outcomes)
        kind = "llm_top_classification" if ctx.llm is not None else "top_classification"
        for path, outcome in outcomes.items():
            folder = ctx.root / "debug_outputs" / kind / state.name / file_hash(path)
            write_json(folder / "reasons.json", _reasons(path, outcome))
        if ctx.llm is not None:
            _write_agreement(ctx, state, outcomes)


def _reasons(path: str, outcome: Outcome) -> dict[str, Any]:
    """reasons.json: the file's units, then every unit's candidates, each naming its unit."""
    data = dict(outcome.data or {})
    rows: list[dict[str, Any]] = data.pop("units", [])
    return {
        "file": path,
        "status": outcome.status,
        **data,
        "units": [{k: v for k, v in row.items() if k != "candidates"} for row in rows],
        "candidates": [{"unit": row["unit"], **c} for row in rows for c in row["candidates"]],
    }


def _valid_units(state: SpecState, outcomes: dict[str, Outcome]) -> dict[str, dict[str, Any]]:
    """unit key -> its choice, newest file first, at most ``max_f2p_num`` units.

    The failed units of files that gave a valid one are noted as dropped; every
    unit after the cap is reached, failed or valid, as capped (never a candidate:
    a failed one past the cap counts no more than a valid one does).
    """
    limit = state.spec.settings.max_f2p_num
    dropped = state.values.setdefault("dropped", {})
    units: dict[str, dict[str, Any]] = {}
    for path in (p for p in state.values.get("f2p", []) if p in outcomes):
        outcome = outcomes[path]
        if outcome.status != "ok":
            continue
        for unit in outcome.data["units"]:
            if limit != -1 and len(units) >= limit:
                why = f"over max_f2p_num ({limit} units); raise max_f2p_num"
                if unit["status"] != "ok":
                    why += f" (top would drop it: {unit['reason']})"
                dropped[unit["key"]] = {**_dropped("top", why), "status": "capped"}
            elif unit["status"] != "ok":
                dropped[unit["key"]] = _dropped("top", unit["reason"])
            else:
                units[unit["key"]] = unit
    return units


def _dropped(stage: str, reason: str) -> dict[str, str]:
    return {"status": "dropped", "stage": stage, "reason": reason}


def _choose_units(ctx: RunContext, state: SpecState, file: str) -> tuple[list[UnitChoice], str]:
    """The units ``case_unit`` asks for; ``auto``: the file, else its classes and groups.

    Also why ``auto`` passed over the whole file, when it did. A whole file ``auto``
    takes carries its smaller units as ``fallbacks``: the data stage tries them
    when the file drops there (chosen offline: they never cost a model call).
    """
    spec = state.spec.settings
    trace: FileTrace = state.values["traces"][file]
    mode = spec.case_unit
    whole = _choose(ctx, state, units.file_unit(file, trace), ask_llm=mode in ("file", "auto"))
    if mode == "file":
        return [whole], ""
    if mode == "auto" and whole.status == "ok":
        smaller = _units_below(ctx, state, whole, mode, ask_llm=False)
        # A class holding every test of the file would only repeat the file's attempt.
        whole.fallbacks = [
            _fallback(c) for c in smaller if c.status == "ok" and set(c.tests) != set(whole.tests)
        ]
        return [whole], ""
    found = _units_below(ctx, state, whole, mode)
    if mode == "auto" and not any(c.status == "ok" for c in found):
        whole.reason += "; no test class or group of its tests qualifies either"
        return [whole], ""
    return (found or [_no_units(whole, mode)]), whole.reason if mode == "auto" else ""


def _units_below(
    ctx: RunContext, state: SpecState, whole: UnitChoice, mode: str, ask_llm: bool = True
) -> list[UnitChoice]:
    """The file's test classes, then groups of its other tests, as ``mode`` asks."""
    spec = state.spec.settings
    trace: FileTrace = state.values["traces"][whole.file]
    found: list[UnitChoice] = []
    if mode in ("class", "auto"):
        classes = units.class_units(whole.file, trace, spec.min_test_num)
        found += [_widened(ctx, state, u, ask_llm) for u in classes]
    if mode in ("group", "auto"):
        taken = {t for c in found if c.status == "ok" for t in c.tests}
        rest = [t for t in units.passing(trace) if t not in taken]
        eligible = [c for c in whole.candidates if allowed(c)]
        groups = units.group_units(whole.file, rest, trace, eligible, spec.min_test_num)
        repeat = list(whole.tests) if mode != "group" else None  # the file, tried already
        splits = units.Splits(trace, eligible, spec.min_test_num, repeat)
        found += units.split_down(groups, splits, lambda u: _widened(ctx, state, u, ask_llm))
    return found


def _fallback(choice: UnitChoice) -> dict[str, Any]:
    """A smaller unit as the data stage needs it: without the candidates' numbers."""
    return {k: v for k, v in msgspec.to_builtins(choice).items() if k != "candidates"}


def _widened(
    ctx: RunContext, state: SpecState, group: units.Unit, ask_llm: bool = True
) -> UnitChoice:
    """A class or group, or, when the file's other tests reach its nearest object, the
    unit with those tests in (``name-wide``): tests that share their objects go together
    (``TestLast`` takes in the tests of functions built on ``last``)."""
    choice = _choose(ctx, state, group, ask_llm)
    if choice.status == "ok":
        return choice
    trace: FileTrace = state.values["traces"][group.file]
    passing = set(units.passing(trace))
    reach = tests_reaching(trace, state.spec.settings.max_depth_top, passing)
    widened = {c.key: set(group.tests) | reach.get(c.key, set()) for c in choice.candidates}
    # Widened to the share of the file its objects must fail, a unit is the file in
    # effect, and the file was tried: an entry point every test reaches does just that.
    most = (1.0 - state.spec.settings.f2p_pass_rate_threshold) * len(passing)
    shared = [
        c for c in choice.candidates if c.reason.endswith(OTHERS) and len(widened[c.key]) < most
    ]
    if not shared:
        return choice
    nearest = min(shared, key=lambda c: (c.depth, -c.file_tests, len(widened[c.key]), c.key))
    tests = widened[nearest.key]
    wide = units.Unit(group.file, f"{group.name}-wide", tuple(sorted(tests)))
    wider = _choose(ctx, state, wide, ask_llm)
    return wider if wider.status == "ok" else choice


def _no_units(whole: UnitChoice, mode: str) -> UnitChoice:
    what = "test class" if mode == "class" else "group of tests sharing an object"
    whole.status = "failed"
    whole.reason = f"no {what} with min_test_num tests; case_unit = 'file' or 'auto' takes the file"
    return whole


def _choose(
    ctx: RunContext, state: SpecState, unit: units.Unit, ask_llm: bool = True
) -> UnitChoice:
    """The objects for one unit, or why it cannot be a case.

    With an LLM, the model's objects; when they cannot make a case and the offline
    ones can, the offline ones; when both can, data tries the offline ones after the
    model's (``offline_objects``).
    """
    limits = _limits(ctx, state, unit)
    found, core = select_top(unit, state.values["traces"], limits, _files(state))
    choice = UnitChoice(
        key=unit.key, file=unit.file, unit=unit.name, tests=list(unit.tests), status="ok"
    )
    offline = [c for c in found if c.chosen]
    if ctx.llm is None or not ask_llm:
        return _settle(state, unit, choice, found, offline, (limits, core))
    found, choice.llm = _decide_with_llm(ctx, state, unit, found)
    _tell_failures(ctx, state, unit, choice.llm)
    chosen = [c for c in found if c.chosen]
    if {c.key for c in chosen} == {c.key for c in offline}:
        return _settle(state, unit, choice, found, chosen, (limits, core))
    model = _settle(state, unit, msgspec.structs.replace(choice), found, chosen, (limits, 0))
    if model.status == "ok":
        model.offline_objects = top_objects(offline)
        return model
    fallback = _settle(state, unit, choice, found, offline, (limits, core))
    if fallback.status != "ok" or fallback.llm is None:  # None: typing only (set above)
        model.reason = f"llm choice: {model.reason}; offline choice: {fallback.reason}"
        return model
    fallback.llm["model_choice_failed"] = model.reason  # data's notes say it with the case
    return fallback


def _settle(
    state: SpecState,
    unit: units.Unit,
    choice: UnitChoice,
    found: list[Candidate],
    chosen: list[Candidate],
    sizes: tuple[units.Limits, int],
) -> UnitChoice:
    """``choice`` with ``chosen`` as its objects, and its verdict."""
    limits, core = sizes
    choice.top_objects, choice.candidates = top_objects(chosen), found
    choice.core_lines = core
    # Classes count whole, as the data stage counts them: folding methods may add lines.
    lines = max(core, units.object_lines(_files(state), choice.top_objects))
    choice.budget = max(limits.budget, lines)
    traces: dict[str, FileTrace] = state.values["traces"]
    spec = state.spec.settings
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
    reach = tests_reaching(traces[unit.file], limits.max_depth, set(unit.tests))
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


def _tell_failures(
    ctx: RunContext, state: SpecState, unit: units.Unit, report: dict[str, Any]
) -> None:
    """Record the endpoint's failures as the run's errors.

    A batch the offline selector decided because the endpoint failed is no verdict of
    the model: the file's result is used in this run but not stored, so it is asked
    again, whichever of its units it was for (``top_llm_failed``).
    """
    errors = [b["error"] for b in report["batches"] if b["error"]]
    if not errors:
        return
    state.values.setdefault("top_llm_failed", set()).add(unit.file)
    ctx.error(ctx.llm.down or f"top: {state.name} {unit.key}: {errors[0]}")
    ctx.warn(
        "top: batches the LLM endpoint failed were decided offline and are not cached;"
        " a rerun asks the model again"
    )


def _decide_with_llm(
    ctx: RunContext, state: SpecState, unit: units.Unit, found: list[Candidate]
) -> tuple[list[Candidate], dict[str, Any]]:
    """The model's verdicts on the candidates the hard rules allow; offline where it fails."""
    checkout: Checkout = state.values["checkout"]
    spec = state.spec.settings
    file = unit.file
    offline = {c.key for c in found if c.chosen}
    eligible = [c for c in found if allowed(c)]  # the model chooses only what can make a case
    library = spec.library_name or spec.repository
    files = python_files(checkout.path)
    cached = caching_enabled(ctx, TopStage(), state)  # --debug "top=False" asks the model again
    trace: FileTrace = state.values["traces"][file]
    reach = tests_reaching(trace, spec.max_depth_top, set(unit.tests))
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


def _llm_summary(choices: list[UnitChoice]) -> dict[str, object]:
    """The model's batches over every unit, and both choices over the file's units."""
    reports = [c.llm for c in choices if c.llm]
    offline: set[str] = set()
    chosen: set[str] = set()
    for report in reports:
        figures: dict[str, Any] = report["offline_vs_llm"]  # type: ignore[assignment]
        offline.update(figures["offline"])
        chosen.update(figures["llm"])
    batches = [b for r in reports for b in r["batches"]]  # type: ignore[attr-defined]
    return {"batches": batches, "offline_vs_llm": llm_top.agreement(offline, chosen)}


def allowed(candidate: Candidate) -> bool:
    """Whether a candidate passed the hard rules and is specific enough to choose."""
    return not candidate.hard and candidate.specificity >= MIN_SPECIFICITY


def file_hash(path: str) -> str:
    return hashlib.sha256(path.encode()).hexdigest()[:12]
