"""Classification: what a case removes, what it only empties, and what it must keep."""

from __future__ import annotations

from orchestrator.extract.classify import classify
from orchestrator.extract.masking import Target
from orchestrator.pipeline.traces import FileTrace, TestTrace

CMP = """\
def check(a, b):
    return type(a) is type(b)


def make(name):
    # Called while a module imports; check is only put in the body it builds.
    return type(name, (), {"check": check})


def compare(a, b):
    return check(a, b) and a == b
"""

FILES = {
    "pkg/__init__.py": "",
    "pkg/cmp.py": CMP,
    "tests/test_cmp.py": "from pkg.cmp import make\n",
}


def trace(
    calls: list[tuple[str, str, int, int]], import_time: list[tuple[str, str, int, int]]
) -> FileTrace:
    return FileTrace(
        tests={"tests/test_cmp.py::test_a": TestTrace("passed", calls)}, import_time=import_time
    )


def top(qualname: str, line: int) -> dict[str, object]:
    return {"kind": "function", "path": "pkg/cmp.py", "qualname": qualname, "line": line}


def test_a_function_referred_to_by_an_import_time_call_is_emptied_not_removed() -> None:
    traces = {
        "tests/test_cmp.py": trace([("pkg/cmp.py", "check", 1, 1)], [("pkg/cmp.py", "make", 5, 1)])
    }
    result = classify(FILES, [top("check", 1), top("compare", 10)], traces, [], budget=50)
    assert result.stubs == [Target("pkg/cmp.py", "check")]
    assert result.top == [Target("pkg/cmp.py", "compare")]


def test_without_the_import_time_call_it_is_removed() -> None:
    traces = {"tests/test_cmp.py": trace([("pkg/cmp.py", "check", 1, 1)], [])}
    result = classify(FILES, [top("check", 1)], traces, [], budget=50)
    assert result.stubs == []
    assert result.top == [Target("pkg/cmp.py", "check")]


def test_objects_the_chosen_pass_to_pass_tests_reach_are_kept() -> None:
    traces = {
        "tests/test_cmp.py": trace([("pkg/cmp.py", "compare", 10, 1)], []),
        "tests/test_other.py": FileTrace(
            tests={
                "tests/test_other.py::t": TestTrace("passed", [("pkg/cmp.py", "compare", 10, 1)])
            },
            import_time=[],
        ),
    }
    result = classify(
        FILES, [top("compare", 10), top("check", 1)], traces, ["tests/test_other.py"], budget=50
    )
    assert Target("pkg/cmp.py", "compare") not in result.top
    assert result.protected["pkg/cmp.py::compare"] == "reached by a chosen pass-to-pass test"


VERSION = """\
import functools


@functools.total_ordering
class Version:
    def __init__(self, number):
        self.number = number

    def __eq__(self, other):
        return self.number == other.number

    def __lt__(self, other):
        return self.number < other.number
"""

WRAP = """\
class Base:
    def describe(self):
        return "wrapped " + self.name


def register(name):
    def deco(func):
        # Runs while a test module imports: Base must exist then.
        class Wrapped(Base):
            pass

        Wrapped.name = name
        return Wrapped

    return deco
"""


def test_total_ordering_keeps_its_ordering_dunder_emptied() -> None:
    """An ordering dunder of a total_ordering class is emptied, its sibling removed."""
    files = {"pkg/__init__.py": "", "pkg/ver.py": VERSION, "tests/test_ver.py": ""}
    calls = [("pkg/ver.py", "Version.__lt__", 12, 1), ("pkg/ver.py", "Version.__eq__", 9, 1)]
    traces = {"tests/test_cmp.py": trace(calls, [])}
    tops = [
        {"kind": "method", "path": "pkg/ver.py", "qualname": q, "line": line}
        for _, q, line, _ in calls
    ]
    result = classify(files, tops, traces, [], budget=50)
    assert result.stubs == [Target("pkg/ver.py", "Version.__lt__")]
    assert result.top == [Target("pkg/ver.py", "Version.__eq__")]


def test_a_base_class_a_decorator_factory_uses_at_import_goes_method_by_method() -> None:
    """A class named inside a function called at import loses its methods, not itself."""
    files = {"pkg/__init__.py": "", "pkg/wrap.py": WRAP, "tests/test_wrap.py": ""}
    at_import = [("pkg/wrap.py", "register", 5, 1), ("pkg/wrap.py", "register.<locals>.deco", 6, 1)]
    traces = {"tests/test_cmp.py": trace([("pkg/wrap.py", "Base.describe", 2, 2)], at_import)}
    base = {"kind": "class", "path": "pkg/wrap.py", "qualname": "Base"}
    result = classify(files, [{**base, "methods": ["Base.describe"]}], traces, [], budget=50)
    assert result.top == [Target("pkg/wrap.py", "Base.describe")]
    assert "methods only" in result.protected["pkg/wrap.py::Base"]
