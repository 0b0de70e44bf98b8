"""The offline top selection for units: who is eligible, the caps, and the budget."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.pipeline.traces import FileTrace, TestTrace
from orchestrator.stages.top_select import select_top
from orchestrator.stages.top_units import (
    Limits,
    Splits,
    Unit,
    class_units,
    group_units,
    split_down,
    split_group,
)

LIB = """\
def alpha(x):
    return x + 1


def beta(x):
    y = x * 2
    z = y - 1
    return z


def gamma(x):
    return -x
"""

FILE = "tests/test_lib.py"


def row(name: str, line: int, depth: int = 1) -> tuple[str, str, int, int]:
    return ("lib.py", name, line, depth)


def traces() -> dict[str, FileTrace]:
    """TestAlpha reaches alpha, TestBeta beta; test_gamma (no class) gamma and beta."""
    tests = {
        f"{FILE}::TestAlpha::test_one": TestTrace("passed", [row("alpha", 1)]),
        f"{FILE}::TestAlpha::test_two": TestTrace("passed", [row("alpha", 1)]),
        f"{FILE}::TestBeta::test_one": TestTrace("passed", [row("beta", 5)]),
        f"{FILE}::test_gamma": TestTrace("passed", [row("gamma", 11), row("beta", 5, 2)]),
    }
    return {FILE: FileTrace(tests=tests, import_time=[])}


def limits(max_objects: int = 40, budget: int = 100, goal: float = 0.9) -> Limits:
    return Limits(
        max_depth=3, goal=goal, needed=goal - 0.1, max_objects=max_objects, budget=budget, upper=100
    )


def test_class_units_are_named_after_their_class() -> None:
    """Each test class is a unit named after it, when it has min_test_num tests."""
    units = class_units(FILE, traces()[FILE], min_tests=1)
    assert [(u.name, len(u.tests)) for u in units] == [("TestAlpha", 2), ("TestBeta", 1)]
    assert units[0].key == f"{FILE}::TestAlpha"
    assert class_units(FILE, traces()[FILE], min_tests=2)[0].name == "TestAlpha"


def test_an_object_the_files_other_tests_reach_is_never_chosen_for_a_unit() -> None:
    """beta is reached by test_gamma too, which must keep passing: TestBeta gets nothing."""
    unit = Unit(FILE, "TestBeta", (f"{FILE}::TestBeta::test_one",))
    found, _ = select_top(unit, traces(), limits(), {"lib.py": LIB})
    (beta,) = found
    assert not beta.chosen
    assert beta.reason == "reached by 1 of the file's other tests (they must pass)"


def test_a_unit_gets_only_its_own_objects() -> None:
    """TestAlpha's unit chooses alpha, two code lines, and nothing else."""
    tests = (f"{FILE}::TestAlpha::test_one", f"{FILE}::TestAlpha::test_two")
    found, core = select_top(Unit(FILE, "TestAlpha", tests), traces(), limits(), {"lib.py": LIB})
    assert [c.qualname for c in found if c.chosen] == ["alpha"]
    assert core == 2


def test_groups_follow_the_nearest_specific_object() -> None:
    """Tests group by the nearest specific object they reach."""
    trace = traces()[FILE]
    unit = Unit(FILE, "file", tuple(sorted(trace.tests)))
    found, _ = select_top(unit, traces(), limits(), {"lib.py": LIB})
    groups = group_units(FILE, sorted(trace.tests), trace, found, min_tests=1)
    assert {g.name: len(g.tests) for g in groups} == {"alpha": 2, "beta": 1, "gamma": 1}


def test_a_group_that_fails_splits_without_the_object_all_its_tests_reach() -> None:
    """Every test calls ``alpha`` first (the entry point), so they all group under it;
    split, they part by ``beta`` and ``gamma``, named after the group and the object."""
    lines = {"alpha": 1, "beta": 5, "gamma": 11}
    calls = {"b1": [("beta", 2)], "b2": [("beta", 2)], "g1": [("gamma", 2)]}
    calls["g2"] = [("gamma", 2), ("beta", 3)]  # beta too, deeper: it goes with gamma
    tests = {
        f"{FILE}::test_{name}": TestTrace(
            "passed", [row("alpha", 1), *(row(f, lines[f], depth) for f, depth in reached)]
        )
        for name, reached in calls.items()
    }
    trace = FileTrace(tests=tests, import_time=[])
    unit = Unit(FILE, "file", tuple(sorted(tests)))
    found, _ = select_top(unit, {FILE: trace}, limits(), {"lib.py": LIB})
    (whole,) = group_units(FILE, sorted(tests), trace, found, min_tests=1)
    assert whole.name == "alpha"
    assert set(whole.tests) == set(tests)
    split = split_group(whole, trace, found, min_tests=1)
    assert {g.name: g.tests for g in split} == {
        "alpha--beta": (f"{FILE}::test_b1", f"{FILE}::test_b2"),
        "alpha--gamma": (f"{FILE}::test_g1", f"{FILE}::test_g2"),
    }


def test_objects_left_out_by_the_cap_are_not_called_not_needed() -> None:
    """Candidates past max_top_objects say so and name the key."""
    trace = traces()[FILE]
    unit = Unit(FILE, "file", tuple(sorted(trace.tests)))
    found, _ = select_top(unit, traces(), limits(max_objects=1), {"lib.py": LIB})
    left = [c for c in found if not c.chosen]
    assert left
    for candidate in left:
        assert candidate.reason == "left out: max_top_objects (1) reached; raise max_top_objects"


def test_past_the_core_the_line_budget_decides() -> None:
    """alpha alone reaches the core share of the unit's tests; gamma is over the budget."""
    both = (f"{FILE}::TestAlpha::test_one", f"{FILE}::TestAlpha::test_two", f"{FILE}::test_gamma")
    tr = traces()
    tr[FILE].tests[f"{FILE}::test_gamma"] = TestTrace("passed", [row("gamma", 11)])
    found, core = select_top(Unit(FILE, "g", both), tr, limits(budget=2, goal=0.5), {"lib.py": LIB})
    assert core == 2
    chosen = {c.qualname: c for c in found}
    assert chosen["gamma"].reason.startswith("over the line budget (4 > 2)")


def test_units_past_max_f2p_num_are_capped_whether_top_chose_for_them_or_not() -> None:
    """Once the cap is reached, a later file's failed unit is no more a candidate than its
    valid one: both are capped (the failed one keeps top's reason)."""
    from orchestrator.pipeline.engine import Outcome, SpecState
    from orchestrator.pipeline.specs import RepoSpec, Spec
    from orchestrator.stages.top import _valid_units

    def unit(file: str, name: str, reason: str = "") -> dict[str, object]:
        status = "failed" if reason else "ok"
        return {"key": f"{file}::{name}", "unit": name, "status": status, "reason": reason}

    first, second = "tests/test_a.py", "tests/test_b.py"
    outcomes = {
        first: Outcome("ok", data={"units": [unit(first, "A"), unit(first, "B", "shared")]}),
        second: Outcome("ok", data={"units": [unit(second, "C"), unit(second, "D", "shared")]}),
    }
    state = SpecState(Spec("SPECS_CAP", RepoSpec(repository="x", max_f2p_num=2)))
    state.values["f2p"] = [first, second]
    assert list(_valid_units(state, outcomes)) == [f"{first}::A", f"{second}::C"]
    dropped = state.values["dropped"]
    assert dropped[f"{first}::B"] == {"status": "dropped", "stage": "top", "reason": "shared"}
    state.spec = Spec("SPECS_CAP", RepoSpec(repository="x", max_f2p_num=1))
    state.values["dropped"] = {}
    assert list(_valid_units(state, outcomes)) == [f"{first}::A"]
    dropped = state.values["dropped"]
    assert {key: row["status"] for key, row in dropped.items()} == {
        f"{first}::B": "capped",
        f"{second}::C": "capped",
        f"{second}::D": "capped",
    }
    assert dropped[f"{second}::D"]["reason"] == (
        "over max_f2p_num (1 units); raise max_f2p_num (top would drop it: shared)"
    )


@dataclass
class Attempt:
    status: str
    unit: str
    tests: list[str]


def test_a_valid_attempt_at_tests_already_tried_takes_the_failed_ones_place() -> None:
    """A split group, widened, can come back to a failed unit's tests: the valid one stays."""
    tests = [f"{FILE}::TestAlpha::test_one", f"{FILE}::TestAlpha::test_two"]
    tried = {"alpha": Attempt("failed", "alpha", tests), "beta": Attempt("ok", "beta", tests)}
    tried["gamma"] = Attempt("failed", "gamma", tests[::-1])

    def attempt(unit: Unit) -> Attempt:
        return tried[unit.name]

    groups = [Unit(FILE, name, tuple(tests)) for name in tried]
    how = Splits(traces()[FILE], [], 1, None)
    assert split_down(groups, how, attempt) == [tried["beta"]]
