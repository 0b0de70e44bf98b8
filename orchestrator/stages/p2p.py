"""Stage p2p: for each unit, the pass-to-pass files that stay green.

A pass-to-pass file qualifies when none of its traced tests reaches any of
the unit's top objects; the unit's own file never does (its other tests are
pass-to-pass tests already, and count as one file towards ``min_p2p_files``).
The overlap is checked like with like: a function or method by its identity
(path, qualname, first line), a class by every method defined in it (same
path, qualname under the class). Between
``min_p2p_files`` and ``max_p2p_files`` files are drawn, with ``--seed``
breaking ties, so two runs with the same seed choose the same files.
"""

from __future__ import annotations

import random
from typing import Any

from orchestrator.pipeline.engine import Outcome, RunContext, SpecState, WorkItem
from orchestrator.pipeline.traces import FileTrace, Row
from orchestrator.stages.data_status import note_dropped


class P2PStage:
    name = "p2p"
    version = 3  # 2: per unit; 3: the unit's own file counts
    depends_on: tuple[str, ...] = ("top",)
    cache_key: str | None = "p2p_cache"

    def items(self, ctx: RunContext, state: SpecState) -> list[WorkItem]:
        spec = state.spec.settings
        bounds = {"min_p2p_files": spec.min_p2p_files, "max_p2p_files": spec.max_p2p_files}
        inputs = {"seed": ctx.seed, **bounds}
        top = state.values.get("top", {})
        return [  # the objects are inputs: an LLM's top result may be redone for the same key
            WorkItem(key, {"unit": key, **inputs, "avoid": _avoided(top[key]), **_below(top[key])})
            for key in sorted(top)
        ]

    def run(self, ctx: RunContext, state: SpecState, item: WorkItem) -> Outcome:
        unit = state.values["top"][item.key]
        outcome = _choose(ctx, state, unit)
        fallbacks = {f["key"]: _choose(ctx, state, f) for f in unit.get("fallbacks", [])}
        if outcome.status == "ok" and fallbacks:  # only then: other units keep their outcome
            outcome.data["fallbacks"] = {
                key: found.data["p2p_files"]
                for key, found in fallbacks.items()
                if found.status == "ok"
            }
        return outcome

    def apply(self, ctx: RunContext, state: SpecState, outcomes: dict[str, Outcome]) -> None:
        """The chosen files per unit; the smaller units ``auto`` falls back to in the data
        stage join ``top`` (never as items of their own) with theirs in ``fallback_p2p``."""
        note_dropped(state.values, self.name, outcomes)
        ok = {p: o for p, o in outcomes.items() if o.status == "ok"}
        state.values["p2p_choice"] = {p: o.data["p2p_files"] for p, o in ok.items()}
        top = state.values.get("top", {})
        below = {f["key"]: f for p in ok for f in top[p].get("fallbacks", [])}
        state.values["fallback_p2p"] = {
            k: v for o in ok.values() for k, v in o.data.get("fallbacks", {}).items()
        }
        top.update({k: below[k] for k in state.values["fallback_p2p"]})


def _choose(ctx: RunContext, state: SpecState, unit: dict[str, Any]) -> Outcome:
    """The unit's pass-to-pass files, drawn among those that avoid its objects."""
    spec = state.spec.settings
    traces: dict[str, FileTrace] = state.values["traces"]
    clean = p2p_files_avoiding(state, unit["file"], _avoided(unit))
    if len(clean) + own_file(traces[unit["file"]], unit["tests"]) < spec.min_p2p_files:
        reason = f"only {len(clean)} pass-to-pass files avoid the top objects"
        need = f"need {spec.min_p2p_files} (min_p2p_files)"
        return Outcome("failed", f"{reason}; {need}", data={"p2p_files": clean})
    draw = random.Random(f"{ctx.seed}:{state.name}:{unit['key']}")  # ties broken by --seed
    chosen = sorted(draw.sample(clean, min(len(clean), spec.max_p2p_files)))
    return Outcome("ok", data={"p2p_files": chosen, "clean": len(clean)})


def _below(unit: dict[str, Any]) -> dict[str, Any]:
    """The smaller units' objects, when the unit has any to fall back to: inputs too."""
    fallbacks = [[f["key"], _avoided(f)] for f in unit.get("fallbacks", [])]
    return {"fallbacks": fallbacks} if fallbacks else {}


def p2p_files_avoiding(state: SpecState, file: str, top: list[dict[str, object]]) -> list[str]:
    """The traced pass-to-pass candidates other than ``file`` that reach none of ``top``."""
    traces: dict[str, FileTrace] = state.values["traces"]
    candidates = [p for p in state.values.get("p2p", []) if p != file and p in traces]
    # A doctest module's own functions are its test code to the tracer: its traces never
    # show the calls its doctests make into it, so one that holds a top object is out.
    holding = {str(t["path"]) for t in top} & set(state.values.get("doctest_modules", ()))
    return sorted(
        p
        for p in candidates
        if p not in holding and not any(touches(row, top) for row in _rows(traces[p]))
    )


def own_file(trace: FileTrace, tests: list[str]) -> int:
    """1 when the unit's file has other passing tests: they check the mask like a P2P file."""
    others = {n for n, t in trace.tests.items() if t.outcome == "passed"} - set(tests)
    return int(bool(others))


def _avoided(top: dict[str, Any]) -> list[dict[str, Any]]:
    """The objects P2P files must not reach: top's choice, and in LLM mode the offline one."""
    return [*top["top_objects"], *top.get("offline_objects", [])]


def touches(row: Row, top_objects: list[dict[str, object]]) -> bool:
    """Whether a traced call is one of the top objects, or a method of a top class."""
    path, qualname, line, _ = row
    for top in top_objects:
        if top["path"] != path:
            continue
        if top["kind"] == "class" and qualname.startswith(f"{top['qualname']}."):
            return True
        if top["kind"] != "class" and top["qualname"] == qualname and top["line"] == line:
            return True
    return False


def _rows(trace: FileTrace) -> list[Row]:
    return [row for test in trace.tests.values() for row in test.calls]
