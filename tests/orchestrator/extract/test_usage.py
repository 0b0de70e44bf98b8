"""The test lines a statement quotes for an interface without a docstring."""

from __future__ import annotations

from orchestrator.extract.fairness import exercised_doc, statement_listing
from orchestrator.extract.leaks import distinctive_lines
from orchestrator.extract.masking import Target, mask
from orchestrator.extract.usage import MAX_CHARS, MAX_LINE, MAX_LINES, interface_names, usage_lines
from orchestrator.pipeline.traces import TestTrace

TESTS = '''\
import pytest
from pkg import naturalsize as ns
import pkg


@pytest.mark.parametrize("value, expected", [(1, "1 B"), (2000, "2 kB")])
def test_param(value, expected):
    assert ns(value) == expected


class TestRaises:
    def test_negative(self):
        with pytest.raises(ValueError, match="no  name"):
            pkg.naturalsize(
                -1,
            )
        size = pkg.naturalsize(3)
        self.assertEqual(size, "3 B")


def test_unrelated():
    assert pkg.other() == 1


def doctested():
    """
    >>> naturalsize(5)
    '5 B'
    >>> other()
    1
    """
'''
IDS = ["tests/test_s.py::test_param[1-1 B]", "tests/test_s.py::test_param[2000-2 kB]"]
IDS += ["tests/test_s.py::TestRaises::test_negative", "tests/test_s.py::test_unrelated"]


def quoted(ids: list[str], names: set[str], removed: set[str] | None = None) -> list[str]:
    return usage_lines("tests/test_s.py", TESTS, ids, names, removed or set())


def test_each_test_in_turn_with_its_parametrize_line() -> None:
    """Aliases, module attributes and names bound from them count; a raises header stays
    with its call, exact strings as written; the unrelated test is not quoted."""
    assert quoted(IDS, {"naturalsize"}) == [
        '@pytest.mark.parametrize("value, expected", [(1, "1 B"), (2000, "2 kB")])',
        "assert ns(value) == expected",
        'with pytest.raises(ValueError, match="no  name"): pkg.naturalsize( -1, )',
        "size = pkg.naturalsize(3)",
        'self.assertEqual(size, "3 B")',
    ]


def test_a_fixture_that_builds_the_interface_stands_for_it() -> None:
    source = (
        "import pytest\nfrom pkg import cli\n\n\n"
        "@pytest.fixture\ndef cc(tmp_path):\n    cmd = cli.get_command()\n    return Checker(cmd)\n\n\n"
        "def test_run(cc):\n    res = cc.run(['glom', '--indent', '0'])\n    assert res.out == '{}'\n"
        "def test_blank(cc):\n    assert cc.run(['glom']).out == '{}'\n"
    )
    ids = ["t.py::test_run", "t.py::test_blank"]
    assert usage_lines("t.py", source, ids, {"get_command"}, set()) == [
        "# fixture cc: cmd = cli.get_command()",
        "res = cc.run(['glom', '--indent', '0'])",
        "assert cc.run(['glom']).out == '{}'",  # the fixture's line is quoted once
        "assert res.out == '{}'",
    ]


def test_a_context_manager_is_quoted_by_its_with_header() -> None:
    source = (
        "from pkg import log_errors\n\n\n"
        "def test_manager():\n    log = []\n"
        "    with log_errors(log.append) as cm:\n        1 / 0\n"
        "    assert cm.label is None\n"
    )
    ids = ["t.py::test_manager"]
    assert usage_lines("t.py", source, ids, {"log_errors"}, set()) == [
        "with log_errors(log.append) as cm:",
        "assert cm.label is None",
    ]


def test_lines_in_handlers_finally_blocks_and_match_cases_are_quoted_one_by_one() -> None:
    source = (
        "from pkg import parse\n\n\n"
        "def test_blocks(kind):\n"
        "    try:\n        parse(1)\n    except ValueError:\n        assert parse(2) == 2\n"
        "    finally:\n        parse(3)\n"
        "    match kind:\n        case 1:\n            assert parse(4) == 4\n"
        "        case _:\n            pass\n"
    )
    assert usage_lines("t.py", source, ["t.py::test_blocks"], {"parse"}, set()) == [
        "parse(1)",
        "assert parse(2) == 2",
        "parse(3)",
        "assert parse(4) == 4",
    ]


def test_a_doctest_item_gives_its_examples_with_their_output() -> None:
    found = quoted(["tests/test_s.py::tests.test_s.doctested"], {"naturalsize"})
    assert found == [">>> naturalsize(5)  # -> '5 B'"]
    text = "Intro\n\n>>> from pkg import naturalsize\n>>> naturalsize(7)\n'7 B'\n"
    found = usage_lines("README.md", text, ["README.md::README.md"], {"naturalsize"}, set())
    assert found == [">>> naturalsize(7)  # -> '7 B'"]


def test_a_line_the_removed_code_holds_is_never_quoted() -> None:
    """The statement must not carry the body: such a test line is skipped."""
    assert "assert ns(value) == expected" not in quoted(IDS, {"naturalsize"}, {"ns(value)"})


def test_the_quote_is_bounded() -> None:
    many = "".join(
        f"def test_{i}():\n    assert naturalsize({i}) == '{'x' * 300}'\n" for i in range(20)
    )
    ids = [f"t.py::test_{i}" for i in range(20)]
    found = usage_lines("t.py", many, ids, {"naturalsize"}, set())
    assert 0 < len(found) <= MAX_LINES
    assert all(len(line) <= MAX_LINE and line.endswith(" ...") for line in found)
    assert len("".join(found)) <= MAX_CHARS


def test_a_class_is_reached_by_its_public_methods_and_a_dunder_by_its_class() -> None:
    source = "class Cache:\n    def get(self, k): ...\n    def _miss(self): ...\n"
    source += "class LRU(Cache): ...\nclass Tiny(LRU): ...\nclass Other: ...\n"
    assert interface_names(source, Target("c.py", "Cache")) == {"Cache", "get"}
    assert interface_names(source, Target("c.py", "Cache.get")) == {"get"}
    found = interface_names(source, Target("c.py", "Cache.__repr__"))
    assert found == {"__repr__", "Cache", "LRU", "Tiny"}


SOURCES = {
    "pkg/__init__.py": "from .sizes import naturalsize\n",
    "pkg/sizes.py": (
        "def naturalsize(value, *, binary: bool = False) -> str:\n"
        "    step = 1024 if binary else 1000\n"
        "    return f'{value // step} kB'\n"
    ),
    "tests/test_sizes.py": (
        "from pkg import naturalsize\n\n\n"
        "def test_kilo():\n    assert naturalsize(2000) == '2 kB'\n\n\n"
        "def test_binary():\n    assert naturalsize(2048, binary=True) == '2 kB'\n"
    ),
}


def test_the_listing_quotes_the_lines_and_the_statement_does_not_leak() -> None:
    """End to end through the listing: the stand-in docstring holds the tests' lines,
    and the leak scan's marks for the removed body are not found in it."""
    target = Target("pkg/sizes.py", "naturalsize")
    masked = mask(SOURCES, [target])
    calls = [("pkg/sizes.py", "naturalsize", 1, 1)]
    tests = {f"tests/test_sizes.py::{n}": TestTrace("passed", calls) for n in ("test_kilo",)}
    tests["tests/test_sizes.py::test_binary"] = TestTrace("passed", calls)
    listing = statement_listing(SOURCES, masked, [target], [], "tests/test_sizes.py", tests)
    assert listing.usage[target] == [
        "assert naturalsize(2000) == '2 kB'",
        "assert naturalsize(2048, binary=True) == '2 kB'",
    ]
    doc = exercised_doc(listing, target)
    assert doc.startswith("Exercised by the tests: test_binary, test_kilo.\n\nThe tests use it")
    kept = [t for p, t in {**SOURCES, **masked.files}.items() if not p.startswith("tests/")]
    marks = distinctive_lines(masked.removed, kept)
    assert marks
    assert not any(line in doc for lines in marks.values() for line in lines)


def test_a_helper_no_test_names_is_shown_through_its_callers_in_the_library() -> None:
    """The kept caller is in the case repository anyway; the removed body is not quoted."""
    files = {
        "pkg/calls.py": (
            "def getter(func):\n    return lambda name, args: args[0]\n\n\n"
            "class Call:\n    def __getattr__(self, name):\n"
            "        return getter(self.func)(name, self.args)\n"
        ),
        "tests/test_calls.py": "from pkg.calls import Call\n\n\ndef test_x():\n    assert 1\n",
    }
    target = Target("pkg/calls.py", "getter")
    masked = mask(files, [target])
    tests = {"tests/test_calls.py::test_x": TestTrace("passed", [("pkg/calls.py", "getter", 1, 2)])}
    listing = statement_listing(files, masked, [target], [], "tests/test_calls.py", tests)
    assert listing.usage[target] == []
    assert listing.callers[target] == [
        "return getter(self.func)(name, self.args)  # in pkg/calls.py"
    ]
    doc = exercised_doc(listing, target)
    assert doc.endswith(
        "The library calls it so:\n\n    return getter(self.func)(name, self.args)  # in pkg/calls.py"
    )


def test_a_helper_only_removed_code_calls_names_its_callers() -> None:
    """No test line and no kept code names it: the listed objects that need it are named."""
    files = {
        "pkg/log.py": (
            "def _fmt(label, e):\n    return '%s raised in %s' % (e, label)\n\n\n"
            "def log_errors(label, e, out):\n    out.append(_fmt(label, e))\n"
        ),
        "tests/test_log.py": "from pkg.log import log_errors\n\n\ndef test_x():\n    assert 1\n",
    }
    fmt, log = Target("pkg/log.py", "_fmt"), Target("pkg/log.py", "log_errors")
    masked = mask(files, [log, fmt])
    tests = {"tests/test_log.py::test_x": TestTrace("passed", [("pkg/log.py", "_fmt", 2, 2)])}
    listing = statement_listing(files, masked, [log], [fmt], "tests/test_log.py", tests)
    assert listing.users[fmt] == ["log_errors"]
    assert exercised_doc(listing, fmt).endswith(
        "Exercised by the tests: test_x.\n\nCalled by: log_errors."
    )


def test_a_dunder_method_is_not_shown_through_constructions_in_the_library() -> None:
    """``Call(f)`` in kept code says nothing about ``Call.__getattr__``."""
    files = {
        "pkg/calls.py": (
            "class Call:\n    def __init__(self, f):\n        self.f = f\n\n"
            "    def __getattr__(self, name):\n        return name.upper()\n\n\n"
            "def make(f):\n    return Call(f)\n"
        ),
        "tests/test_calls.py": "from pkg.calls import make\n\n\ndef test_x():\n    assert 1\n",
    }
    target = Target("pkg/calls.py", "Call.__getattr__")
    masked = mask(files, [target])
    calls = [("pkg/calls.py", "Call.__getattr__", 5, 2)]
    tests = {"tests/test_calls.py::test_x": TestTrace("passed", calls)}
    listing = statement_listing(files, masked, [target], [], "tests/test_calls.py", tests)
    assert listing.exercised[target] == ["test_x"]
    assert listing.callers.get(target, []) == []
    assert listing.users.get(target, []) == []
