"""``case_unit = "auto"`` in the data stage: a whole file that drops falls back to its units.

Top gives a whole-file unit of ``auto`` the file's test classes and groups that
qualify on their own (``fallbacks``), and p2p their pass-to-pass files. When the
whole file drops in the data stage (a P2P check, the gold check, the
statement-faithful gold, a leak), each of those units is tried in turn, as its
own candidate with its own cases. They are tried within the file's item, so a
file that does not drop runs and writes exactly what it did before, and a
cached result of the file holds its units' results too.
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
