"""The data stage's first step: which objects one case removes.

It starts from the top objects, protects what must stay, and adds the helpers
that only the removed objects use, within a line budget drawn between
``max_code_line_lower_bound`` and ``max_code_line_upper_bound`` (``--seed``
draws it, so two runs agree). Protected, whatever the top stage said:

- objects used at import time, found statically (decorators, base classes,
  default values, module-level code) or in the traces (calls during
  collection): removing them would break importing;
- objects the chosen pass-to-pass tests reach: those tests must stay green;
- protocol dunders other code relies on: the top stage only chooses those no
  other test file reaches, and helpers never include dunders.

A top class that cannot go as a whole (something subclasses or decorates it
at import time) goes method by method instead.
"""

from __future__ import annotations

import ast
import random
import textwrap
from dataclasses import dataclass, field

from orchestrator.extract.masking import Target, code_lines, find_definition, locate, parse
from orchestrator.extract.references import import_time_uses, unique_helpers
from orchestrator.extract.stubbing import stub_bodies
from orchestrator.pipeline.traces import FileTrace, Row


@dataclass
class Classification:
    top: list[Target]  # removed whole
    helpers: list[Target]
    budget: int
    lines: int
    protected: dict[str, str] = field(default_factory=dict)  # path::qualname -> why
    stubs: list[Target] = field(default_factory=list)  # top functions emptied, not removed

    @property
    def targets(self) -> list[Target]:
        """What is removed whole."""
        return [*self.top, *self.helpers]

    @property
    def features(self) -> list[Target]:
        """The top objects the agent writes, removed or emptied."""
        return [*self.top, *self.stubs]

    def empty(self, target: Target) -> None:
        """Empty ``target`` instead of removing it: it stays, a feature, its body gone."""
        for group in (self.top, self.helpers):
            if target in group:
                group.remove(target)
        self.stubs.append(target)

    def keep(self, target: Target, why: str) -> None:
        """Stop removing or emptying ``target``."""
        for group in (self.top, self.helpers, self.stubs):
            if target in group:
                group.remove(target)
        self.protected[f"{target.path}::{target.qualname}"] = why


class ClassifyError(Exception):
    """No object can be removed for this file; the message says why."""


def draw_budget(seed: int, spec: str, file: str, lower: int, upper: int) -> int:
    return random.Random(f"{seed}:{spec}:{file}:budget").randint(lower, max(lower, upper))


def classify(
    files: dict[str, str],
    top_objects: list[dict[str, object]],
    traces: dict[str, FileTrace],
    p2p_files: list[str],
    budget: int,
    also_reached: set[tuple[str, str]] | None = None,
) -> Classification:
    """The objects to remove for one unit, with what was protected and why.

    ``also_reached``: what the unit's file's other tests reach; they must pass too.
    """
    protected: dict[str, str] = {}
    reached = _reached_by(traces, p2p_files) | (also_reached or set())
    at_import = {(row[0], row[1]) for trace in traces.values() for row in trace.import_time}
    named = _named_by_import_time_calls(files, at_import)
    expanded = _expand(files, top_objects, protected, named)
    top = _protect(expanded, reached, at_import, protected)
    # Referred to (not called) at import time: emptied, so importing still works.
    uses = import_time_uses(files, top) if top else {}  # one walk of the repository for all
    emptied = {
        t
        for t in top
        if uses[t] or (t.qualname.rsplit(".", 1)[-1] in named and _is_function(files, t))
    }
    top = _fit(files, top, budget, protected, emptied)
    if not top:
        raise ClassifyError(_why_none(protected))
    result = Classification(
        top=[t for t in top if t not in emptied],
        helpers=[],
        budget=budget,
        lines=sum(_lines(files, t, t in emptied) for t in top),
        protected=protected,
        stubs=[t for t in top if t in emptied],
    )
    _add_helpers(files, traces, result, reached, at_import, named)
    return result


def _add_helpers(
    files: dict[str, str],
    traces: dict[str, FileTrace],
    result: Classification,
    reached: set[tuple[str, str]],
    at_import: set[tuple[str, str]],
    named: set[str],
) -> None:
    """Helpers only the removed code uses, while they fit the budget."""
    project = {
        row[0] for trace in traces.values() for test in trace.tests.values() for row in test.calls
    }
    helpers = unique_helpers(files, result.features, project)
    uses = import_time_uses(files, helpers) if helpers else {}
    for helper in helpers:
        size = _lines(files, helper)
        key = f"{helper.path}::{helper.qualname}"
        if (helper.path, helper.qualname) in reached:
            result.protected[key] = "reached by a chosen pass-to-pass test"
        elif (helper.path, helper.qualname) in at_import or uses[helper]:
            result.protected[key] = "used at import time"
        elif helper.qualname.rsplit(".", 1)[-1] in named:
            result.protected[key] = "named by code that runs at import time"
        elif result.lines + size > result.budget:
            result.protected[key] = (
                f"over the line budget ({result.lines} + {size} > {result.budget})"
            )
        else:
            result.helpers.append(helper)
            result.lines += size


def _expand(
    files: dict[str, str],
    top_objects: list[dict[str, object]],
    protected: dict[str, str],
    named: set[str],
) -> list[Target]:
    """Top objects as targets; a class used at import time becomes its methods.

    So does a class that a function called at import names: a decorator factory a
    test module calls may build ``class Wrapped(Base)`` then, and Base must exist.
    """
    targets: list[Target] = []
    classes = [
        Target(str(o["path"]), str(o["qualname"])) for o in top_objects if o["kind"] == "class"
    ]
    class_uses = import_time_uses(files, classes) if classes else {}
    for obj in top_objects:
        path, qualname = str(obj["path"]), str(obj["qualname"])
        whole = Target(path, qualname)
        if obj["kind"] != "class":
            targets.append(whole)
            continue
        uses = class_uses[whole]
        if not uses and qualname.rsplit(".", 1)[-1] in named:
            uses = ["named by a function called at import time"]
        if not uses:
            targets.append(whole)
            continue
        protected[f"{path}::{qualname}"] = f"class used at import time ({uses[0]}): methods only"
        methods = obj.get("methods") or []
        assert isinstance(methods, list)
        targets += [Target(path, str(m)) for m in methods]
    return targets


def _protect(
    targets: list[Target],
    reached: set[tuple[str, str]],
    at_import: set[tuple[str, str]],
    protected: dict[str, str],
) -> list[Target]:
    kept: list[Target] = []
    for target in targets:
        key = f"{target.path}::{target.qualname}"
        inside = {
            (p, q)
            for p, q in reached
            if q == target.qualname or q.startswith(f"{target.qualname}.")
        }
        if any(p == target.path for p, _ in inside):
            protected[key] = "reached by a chosen pass-to-pass test"
        elif (target.path, target.qualname) in at_import:
            protected[key] = "called at import time"
        else:  # dunders: top chose only those no other test file reaches
            kept.append(target)
    return kept


def _named_by_import_time_calls(files: dict[str, str], called: set[tuple[str, str]]) -> set[str]:
    """Names the bodies of functions called at import time refer to.

    ``body = {"check": check}`` inside a function that a module-level statement calls
    (say, a test module's ``Eq = cmp_using(...)``) needs ``check`` to exist while
    importing, though nothing calls it then: such objects are emptied, not removed.
    """
    names: set[str] = set()
    for path, qualname in called:
        found = locate(files.get(path, ""), qualname, path) if path in files else None
        if found is None:
            continue
        try:
            tree = parse(textwrap.dedent(found.source))
        except SyntaxError:  # a body that dedent cannot free (odd string literals): skip it
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Name):
                names.add(node.id)
            elif isinstance(node, ast.Attribute):
                names.add(node.attr)
    return names


def _is_function(files: dict[str, str], target: Target) -> bool:
    found = find_definition(parse(files[target.path]), target.qualname)
    return found is not None and isinstance(found[0][-1], ast.FunctionDef | ast.AsyncFunctionDef)


def _fit(
    files: dict[str, str],
    targets: list[Target],
    budget: int,
    protected: dict[str, str],
    emptied: set[Target],
) -> list[Target]:
    """The top targets, best first, as long as they fit the budget."""
    kept: list[Target] = []
    used = 0
    for target in targets:
        size = _lines(files, target, target in emptied)
        if used + size > budget:
            protected[f"{target.path}::{target.qualname}"] = (
                f"over the line budget ({used} + {size} > {budget});"
                " raise max_code_line_upper_bound"
            )
            continue
        kept.append(target)
        used += size
    return kept


def _lines(files: dict[str, str], target: Target, body_only: bool = False) -> int:
    """Code lines of a target: all of it, or only its body when it is emptied."""
    if body_only:
        source = stub_bodies(files, [target])[1][0].source
    else:
        found = locate(files[target.path], target.qualname, target.path)
        source = "" if found is None else found.source
    return code_lines(source)


def reached_by_tests(trace: FileTrace, tests: list[str]) -> set[tuple[str, str]]:
    """(path, qualname) of every function the given tests of one file reach."""
    return {(row[0], row[1]) for nodeid in tests for row in trace.tests[nodeid].calls}


def _reached_by(traces: dict[str, FileTrace], files: list[str]) -> set[tuple[str, str]]:
    rows: list[Row] = [
        row
        for path in files
        if path in traces
        for test in traces[path].tests.values()
        for row in test.calls
    ]
    return {(row[0], row[1]) for row in rows}


def _why_none(protected: dict[str, str]) -> str:
    if not protected:
        return "no top object left to remove"
    key, why = next(iter(protected.items()))
    more = f" (and {len(protected) - 1} more)" if len(protected) > 1 else ""
    return f"every top object is protected: {key}: {why}{more}"
