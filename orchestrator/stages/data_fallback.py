"""``case_unit = "auto"`` in the data stage: a whole file that drops falls back to its units.

Top gives a whole-file unit of ``auto`` the file's test classes and groups that
qualify on their own (``fallbacks``), and p2p their pass-to-pass files. When the
whole file drops in the data stage (a P2P check, the gold check, the
statement-faithful gold, a leak), each of those units is tried in turn, as its
own candidate with its own cases. They are tried within the file's item, so a
file that does not drop runs and writes exactly what it did before, and a
cached result of the file holds its units' results too.

In LLM mode a case made by the offline choice after the model's failed (in top
or here) says so in its notes, and lists both attempts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from orchestrator.pipeline.engine import Outcome, SpecState, WorkItem

Build = Callable[[WorkItem], Outcome]


def fallback_inputs(
    state: SpecState, unit: dict[str, Any], keys: tuple[str, ...]
) -> dict[str, Any]:
    """The data item's inputs from the units it may fall back to, when there are any."""
    chosen = state.values.get("fallback_p2p", {})
    below = [
        {**{k: f[k] for k in keys if k in f}, "p2p_files": chosen[f["key"]]}
        for f in unit.get("fallbacks", [])
        if f["key"] in chosen
    ]
    return {"fallbacks": below} if below else {}


def fall_back(state: SpecState, unit: dict[str, Any], failed: Outcome, build: Build) -> Outcome:
    """``failed`` (the whole file's), with each smaller unit's outcome from ``build``."""
    chosen = state.values.get("fallback_p2p", {})
    keys = [f["key"] for f in unit.get("fallbacks", []) if f["key"] in chosen]
    if not keys:
        return failed
    tried = {key: build(WorkItem(key, {})) for key in keys}
    valid = sum(1 for outcome in tried.values() if outcome.status == "ok")
    failed.reason = f"{failed.reason}; case_unit 'auto' tried its {len(keys)} smaller units"
    failed.reason += f" instead: {valid} valid"
    failed.data = {**(failed.data or {}), "fallbacks": msgspec.to_builtins(tried)}
    failed.keep = failed.keep and all(outcome.keep for outcome in tried.values())
    return failed


def with_fallbacks(outcomes: dict[str, Outcome]) -> dict[str, Outcome]:
    """Every item's outcome, and those of the smaller units a dropped file fell back to."""
    found = dict(outcomes)
    for outcome in outcomes.values():
        tried = (outcome.data or {}).get("fallbacks", {}) if outcome.status != "ok" else {}
        found.update({key: msgspec.convert(row, Outcome) for key, row in tried.items()})
    return found


def p2p_files(state: SpecState, key: str) -> list[str]:
    """A unit's pass-to-pass files, a smaller unit's among them."""
    files: list[str] = {**state.values.get("fallback_p2p", {}), **state.values["p2p_choice"]}[key]
    return files


def top_failure(unit: dict[str, Any]) -> dict[str, str]:
    """Why the model's choice failed in top, when top used the offline one: the case's
    notes say it, so it is an input of the case's result."""
    failed = (unit.get("llm") or {}).get("model_choice_failed")
    return {"model_choice_failed": failed} if failed else {}


def attempts_in_top(unit: dict[str, Any]) -> list[dict[str, Any]]:
    failed = top_failure(unit).get("model_choice_failed")
    return [{"choice": "llm", "stage": "top", "reason": failed}] if failed else []


def choices(llm_mode: bool, unit: dict[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    """The objects to try in turn, each named for who chose it: in LLM mode the model's,
    then the offline ones when they differ (top chose the offline ones if the model's
    could not make a case there)."""
    first = "llm" if llm_mode and not top_failure(unit) else "offline"
    found = [(first, unit["top_objects"])]
    if unit.get("offline_objects"):
        found.append(("offline", unit["offline_objects"]))
    return found


def record_attempts(data: dict[str, Any], attempts: list[dict[str, Any]], choice: str) -> None:
    """The case's notes (first) and ``attempts``, when the model's choice failed (in top
    or here) and ``choice``, the offline one, made the case."""
    if not attempts:
        return
    data["attempts"] = [*attempts, {"choice": choice, "status": "valid"}]
    first = attempts[0]
    data["notes"].insert(
        0,
        f"the model's choice failed ({first['stage']}: {first['reason']});"
        " the offline choice made the case",
    )
