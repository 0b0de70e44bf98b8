"""The offline top selector: which project objects one unit's tests exercise as its feature.

See :mod:`orchestrator.stages.top` for the rules; this module scores the
candidates of one unit from the traces and decides each with its reason.
"""

from __future__ import annotations

from orchestrator.pipeline.traces import Candidate, FileTrace, Row
from orchestrator.stages import top_units as units

MIN_SPECIFICITY = 0.5
WHOLLY, NEAR = 0.9, 2  # also chosen, within the budget: the feature's other parts
COVERAGE_MARGIN = 0.1  # the core reaches this much more than the threshold asks
_KEPT_DUNDERS = ("__init__", "__call__")
OTHERS = "of the file's other tests (they must pass)"


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
    others = tests_reaching(trace, limits.max_depth, set(units.passing(trace)) - mine)
    eligible = [c for c in ranked if not _excluded(c, import_time, others)]
    sizes = units.candidate_lines(files, eligible)
    core = _decide(ranked, eligible, tests_reaching(trace, limits.max_depth, mine), limits, sizes)
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


def tests_reaching(trace: FileTrace, max_depth: int, tests: set[str]) -> dict[str, set[str]]:
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
        candidate.reason = f"reached by {count} {OTHERS}"
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


def _key(row: Row) -> str:
    return f"{row[0]}::{row[1]}:{row[2]}"
