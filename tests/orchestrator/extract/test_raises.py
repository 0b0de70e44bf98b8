"""What a statement names beyond docstrings: the exceptions the F2P tests expect that
removed code raises, and the test lines that use a documented interface."""

from __future__ import annotations

from orchestrator.extract.fairness import statement_listing, stub_notes
from orchestrator.extract.masking import Target, mask
from orchestrator.extract.raises import expected_exceptions, raised_for_tests
from orchestrator.pipeline.traces import TestTrace

FILES = {
    "when/__init__.py": "from when.errors import WhenError\nfrom when.parse import parse, shift\n",
    "when/errors.py": "class WhenError(ValueError):\n    pass\n",
    "when/parse.py": (
        "from when.errors import WhenError\n\n\n"
        "def parse(text):\n"
        "    '''Parse a date and a time joined by T.'''\n"
        "    if 'T' not in text:\n"
        "        raise WhenError(\n"
        "            'the time designator T is missing'\n"
        "            ' from %r' % text\n"
        "        )\n"
        "    if not text:\n"
        "        raise KeyError(text)\n"
        "    return text.split('T')\n"
        "\n\n"
        "def shift(months):\n"
        "    '''Shift by whole months.'''\n"
        "    if months != int(months):\n"
        "        raise ValueError\n"
        "    return months\n"
        "\n\n"
        "def kept(text):\n"
        "    raise TypeError(text)\n"
    ),
    "tests/test_when.py": (
        "import unittest\n\nimport pytest\n\nimport when\nfrom when import parse, shift\n\n\n"
        "def test_shift():\n"
        "    with pytest.raises((ValueError, TypeError)):\n"
        "        shift(0.5)\n\n\n"
        "class ParseTest(unittest.TestCase):\n"
        "    def test_no_t(self):\n"
        "        self.assertRaises(when.WhenError, parse, '2020-01-01')\n"
    ),
}
PARSE, SHIFT = Target("when/parse.py", "parse"), Target("when/parse.py", "shift")


def test_the_expected_classes_come_from_raises_and_assert_raises() -> None:
    """pytest.raises with one class or a tuple, and unittest's assertRaises, dotted or not."""
    assert expected_exceptions(FILES["tests/test_when.py"]) == {
        "ValueError",
        "TypeError",
        "WhenError",
    }


def test_each_interface_lists_the_raises_the_tests_expect_and_no_other() -> None:
    """isodate: a date-time without T must raise ISO8601Error, a fractional month ValueError;
    neither test gives a message. KeyError is expected by no test; TypeError is, but only
    code left in place raises it."""
    masked = mask(FILES, [PARSE, SHIFT])
    found = raised_for_tests(FILES["tests/test_when.py"], masked, [PARSE, SHIFT])
    message = "'the time designator T is missing from %r' % text"
    assert found == {PARSE: [f"WhenError({message})"], SHIFT: ["ValueError"]}
    listing = statement_listing(FILES, masked, [PARSE, SHIFT], [], "tests/test_when.py", {})
    assert stub_notes(listing, SHIFT) == [
        "# The tests expect it to raise: ValueError",
        "# Also restore, in when/__init__.py: from when.parse import shift",
    ]
    assert f"# The tests expect it to raise: WhenError({message})" in stub_notes(listing, PARSE)


def test_a_raise_the_tests_do_not_expect_is_not_listed() -> None:
    masked = mask(FILES, [PARSE])
    assert raised_for_tests("def test_nothing():\n    assert True\n", masked, [PARSE]) == {}


def test_a_documented_interface_gets_the_test_lines_that_use_it() -> None:
    """isodate's duration_isoformat says it is "just a wrapper around strftime"; its tests
    assert a sign strftime never writes. A docstring may undersell, so documented
    interfaces get the F2P test lines too, as comments; none of them removed code."""
    files = {
        "fmt/__init__.py": "",
        "fmt/core.py": (
            "def render(value):\n"
            "    '''Just a wrapper around str.'''\n"
            "    return ('-' if value < 0 else '') + str(abs(value))\n"
        ),
        "tests/test_fmt.py": (
            "from fmt.core import render\n\n\n"
            "def test_render():\n    x = 2\n    assert render(-x) == '-2'\n"
        ),
    }
    target = Target("fmt/core.py", "render")
    masked = mask(files, [target])
    tests = {
        "tests/test_fmt.py::test_render": TestTrace("passed", [("fmt/core.py", "render", 1, 1)])
    }
    listing = statement_listing(files, masked, [target], [], "tests/test_fmt.py", tests)
    assert listing.exercised == {}  # its docstring stays: no stand-in
    assert stub_notes(listing, target) == [
        "# The tests use it so:",
        "#     assert render(-x) == '-2'",
    ]
    assert statement_listing(files, masked, [target], [], "tests/test_fmt.py", {}).examples == {}
