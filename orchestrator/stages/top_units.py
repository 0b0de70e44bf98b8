"""The units a fail-to-pass file can give cases for (``case_unit``).

A unit is a set of the file's passing tests that becomes a case's
FAIL_TO_PASS; the file's other tests must keep passing and join PASS_TO_PASS.

- ``file``: every passing test of the file (one unit, named ``file``);
- ``class``: the tests of one test class (``TestParse``; nested classes
  ``TestParse-TestErrors``);
- ``group``: the tests whose nearest specific project object is the same,
  named after that object (``naturalsize``, ``Version-parse``).

``auto`` tries the whole file first, then its classes, then groups of the
tests no valid class took, then (twice at most) the tests of a group that
cannot be a case, grouped again without the objects all of them reach. Units
with fewer than ``min_test_num`` tests are not tried. Each unit's objects are
weighed against the line budget drawn for it between
``max_code_line_lower_bound`` and ``max_code_line_upper_bound``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from orchestrator.extract.masking import (
    Definition,
    MaskError,
    SourceText,
    code_lines,
    find_definition,
    first_line,
)
from orchestrator.pipeline.traces import Candidate, FileTrace

FILE_UNIT = "file"


@dataclass(frozen=True)
class Unit:
    file: str
    name: str  # FILE_UNIT, a class path, or a group named after its object
    tests: tuple[str, ...]  # the file's passing tests that are this unit's FAIL_TO_PASS

    @property
    def key(self) -> str:
        """``file`` for the whole file, else ``file::name``: the unit's item key."""
        return self.file if self.name == FILE_UNIT else f"{self.file}::{self.name}"


@dataclass(frozen=True)
class Limits:
    """What bounds one unit's choice of objects, from the spec."""

    max_depth: int
    goal: float  # the share of the unit's tests the core objects reach
    needed: float  # the share they must reach: 1 - f2p_pass_rate_threshold
    max_objects: int  # max_top_objects
    budget: int  # lines drawn for this unit
    upper: int  # max_code_line_upper_bound


def passing(trace: FileTrace) -> list[str]:
    return sorted(nodeid for nodeid, test in trace.tests.items() if test.outcome == "passed")


def file_unit(file: str, trace: FileTrace) -> Unit:
    return Unit(file, FILE_UNIT, tuple(passing(trace)))


def class_units(file: str, trace: FileTrace, min_tests: int) -> list[Unit]:
    """One unit per test class, its methods' tests (``file::Cls::test``) in it."""
    by_class: dict[str, list[str]] = {}
    for nodeid in passing(trace):
        parts = nodeid.split("::")
        if len(parts) > 2:
            by_class.setdefault("-".join(parts[1:-1]), []).append(nodeid)
    return _units(file, by_class, min_tests)


def group_units(
    file: str, tests: Iterable[str], trace: FileTrace, eligible: list[Candidate], min_tests: int
) -> list[Unit]:
    """Tests grouped by their nearest, most specific eligible object."""
    rank = {c.key: (-c.specificity, c.key) for c in eligible}
    by_object: dict[str, list[str]] = {}
    names = {c.key: unit_name(c.qualname) for c in eligible}
    for nodeid in tests:
        reached = [
            (row[3], rank[key])
            for row in trace.tests[nodeid].calls
            if (key := f"{row[0]}::{row[1]}:{row[2]}") in rank
        ]
        if reached:
            best = min(reached)[1][1]
            by_object.setdefault(names[best], []).append(nodeid)
    return _units(file, by_object, min_tests)


def split_group(
    unit: Unit, trace: FileTrace, eligible: list[Candidate], min_tests: int
) -> list[Unit]:
    """The tests of a unit that cannot be a case, grouped again by the objects that tell
    them apart, each named ``{unit}--{object}`` (a double dash: ``parser--parse``, the
    group ``parser`` split by ``parse``, is not the group of the method ``parser.parse``).

    An object every one of the tests reaches (a library's one entry point, such as
    ``tabulate()`` or ``docopt()``) tells none of them apart, yet it is every test's
    nearest object: grouping by it gives back the same tests. Left out, the next
    nearest objects split the tests by what they exercise (multi-line cells, wrapping).
    """
    tests = set(unit.tests)
    reach: dict[str, set[str]] = {}
    for nodeid in tests:
        for row in trace.tests[nodeid].calls:
            reach.setdefault(f"{row[0]}::{row[1]}:{row[2]}", set()).add(nodeid)
    telling = [c for c in eligible if 0 < len(reach.get(c.key, ())) < len(tests)]
    groups = group_units(unit.file, sorted(tests), trace, telling, min_tests)
    prefix = "" if unit.name == FILE_UNIT else f"{unit.name}--"
    return [Unit(g.file, prefix + g.name, g.tests) for g in groups if set(g.tests) != tests]


SPLITS = 2  # how many times the tests of a group that fails are grouped again


class Tried(Protocol):
    """What ``split_down`` reads of an attempt at a unit (top's ``UnitChoice``)."""

    status: str
    unit: str
    tests: list[str]


Choice = TypeVar("Choice", bound=Tried)


@dataclass(frozen=True)
class Splits:
    """How a file's groups split: its trace, eligible objects, ``min_test_num``, and the
    tests of the whole file when that unit was tried already (``None``: it was not)."""

    trace: FileTrace
    eligible: list[Candidate]
    min_tests: int
    whole: list[str] | None


def split_down(groups: list[Unit], how: Splits, attempt: Callable[[Unit], Choice]) -> list[Choice]:
    """The attempts at ``groups``, and at the tests of those that cannot be a case as
    they are (or repeat the whole file), split again, :data:`SPLITS` levels down."""
    found: list[Choice] = []
    for _ in range(SPLITS + 1):
        failed: list[Unit] = []
        for group in groups:
            if list(group.tests) == how.whole:
                failed.append(group)  # only its split is new
                continue
            choice = attempt(group)
            # A group that fails as it is splits even when its widened unit passes: that
            # one can hold most of the file, and drop later in data.
            failed += [] if choice.status == "ok" and choice.unit == group.name else [group]
            _keep_once(found, choice)
        split = (split_group(g, how.trace, how.eligible, how.min_tests) for g in failed)
        groups = [u for parts in split for u in parts]
    return found


def _keep_once(found: list[Choice], choice: Choice) -> None:
    """``choice`` joins ``found`` unless its tests are there already (split, then widened, a
    group can come back to them); a valid one takes the place of one that failed."""
    same = next((i for i, c in enumerate(found) if set(c.tests) == set(choice.tests)), None)
    if same is None:
        found.append(choice)
    elif choice.status == "ok" and found[same].status != "ok":
        found[same] = choice


def _units(file: str, tests: dict[str, list[str]], min_tests: int) -> list[Unit]:
    return [
        Unit(file, name, tuple(sorted(found)))
        for name, found in sorted(tests.items())
        if len(found) >= min_tests and name != FILE_UNIT
    ]


def unit_name(qualname: str) -> str:
    """A qualname as a unit name, safe in case names: ``A.parse`` -> ``A-parse``."""
    return re.sub(r"[^A-Za-z0-9_]+", "-", qualname).strip("-") or "unit"


def candidate_lines(files: dict[str, str], candidates: Iterable[Candidate]) -> dict[str, int]:
    """Code lines of each candidate, as the data stage counts them."""
    return definition_lines(files, ((c.key, c.path, c.qualname) for c in candidates))


def object_lines(files: dict[str, str], objects: list[dict[str, object]]) -> int:
    """Code lines of top objects, a class whole, as the data stage's budget counts them."""
    found = ((str(i), str(o["path"]), str(o["qualname"])) for i, o in enumerate(objects))
    return sum(definition_lines(files, found).values())


def definition_lines(
    files: dict[str, str], wanted: Iterable[tuple[str, str, str]]
) -> dict[str, int]:
    """key -> code lines of the definition (path, qualname); each file parsed once."""
    sizes: dict[str, int] = {}
    parsed: dict[str, SourceText | None] = {}
    for key, path, qualname in wanted:
        if path not in parsed:
            parsed[path] = _source(files, path)
        src = parsed[path]
        found = None if src is None else find_definition(src.tree, qualname)
        sizes[key] = 0 if src is None or found is None else _size(src, found[0])
    return sizes


def _source(files: dict[str, str], path: str) -> SourceText | None:
    try:
        return SourceText(files[path], path) if path in files else None
    except MaskError:  # newer syntax than ours: counted as nothing, masking will say more
        return None


def _size(src: SourceText, nodes: list[Definition]) -> int:
    start, end = first_line(nodes[0]), nodes[-1].end_lineno or nodes[-1].lineno
    return code_lines("".join(src.lines[start - 1 : end]))
