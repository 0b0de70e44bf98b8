"""A small project whose cases come from units below the file, and from tricky imports.

- ``tests/test_numbers.py`` has one test class per function of
  ``calc/numbers.py``: together the functions are over the line budget the
  spec sets, one by one they fit, so each class is a unit;
- ``calc/version.py`` is a ``functools.total_ordering`` class that the
  module subclasses at import, so it is masked method by method;
- ``calc/wrap.py`` has a decorator factory that ``tests/test_wrap.py`` calls
  at import, building a subclass of ``Wrapped`` inside it;
- ``tests/test_text.py`` has no classes: its tests form groups by the
  function they call, and ``shout``'s group takes in ``shout_all``'s tests,
  which call ``shout`` too;
- ``tests/test_untraced.py`` fails only when traced;
- ``tests/tests.py`` and ``tests/tests.md`` share a stem;
- ``--doctest-modules`` collects ``calc/numbers.py`` for its doctest.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.gitrepos import commit_files, setuptools_pyproject

FILES = {
    "pyproject.toml": setuptools_pyproject(
        "calc",
        """
[tool.pytest.ini_options]
python_files = ["test_*.py", "tests.py"]
addopts = "--doctest-modules --doctest-glob=*.md"
""",
    ),
    "calc/__init__.py": '''\
"""Number formatting, versions and labelled functions."""

from .numbers import clamp, intcomma, ordinal
from .version import Version
''',
    "calc/numbers.py": '''\
def ordinal(number):
    """The number with its English ordinal suffix.

    >>> ordinal(2)
    '2nd'
    """
    if 10 <= number % 100 <= 20:
        suffix = "th"
    else:
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


def intcomma(number):
    """The integer with commas between groups of three digits."""
    digits = str(abs(number))
    groups = []
    while len(digits) > 3:
        groups.insert(0, digits[-3:])
        digits = digits[:-3]
    groups.insert(0, digits)
    sign = "-" if number < 0 else ""
    return sign + ",".join(groups)


def clamp(value, low, high):
    """The value, moved into the range from low to high."""
    if low > high:
        raise ValueError("low is above high")
    if value < low:
        return low
    if value > high:
        return high
    return value
''',
    "calc/version.py": '''\
import functools


@functools.total_ordering
class Version:
    """A dotted version number that sorts numerically."""

    def __init__(self, text):
        self.parts = tuple(int(part) for part in text.split("."))

    def __eq__(self, other):
        return self.parts == other.parts

    def __lt__(self, other):
        return self.parts < other.parts

    def __hash__(self):
        return hash(self.parts)


class Release(Version):
    """A version that was published."""
''',
    "calc/wrap.py": '''\
class Wrapped:
    """A function with a label."""

    label = ""

    def __init__(self, func):
        self.func = func

    def __call__(self, *args):
        return self.func(*args)

    def describe(self):
        return f"{self.label}: {self.func.__name__}"


def labelled(label):
    def decorate(func):
        class Labelled(Wrapped):
            pass

        Labelled.label = label
        return Labelled(func)

    return decorate
''',
    "calc/text.py": '''\
def shout(word):
    """The word in capitals, with an exclamation mark."""
    if not word:
        return ""
    loud = word.upper()
    return loud + "!"


def shout_all(words):
    """Every word shouted, empty ones left out."""
    shouted = []
    for word in words:
        if word:
            shouted.append(shout(word))
    return shouted


def whisper(word):
    """The word in small letters, trailing off."""
    if not word:
        return ""
    quiet = word.lower()
    return quiet + "..."
''',
    "tests/__init__.py": "",
    "tests/test_text.py": """\
from calc.text import shout, shout_all, whisper


def test_shout():
    assert shout("hey") == "HEY!"


def test_shout_nothing():
    assert shout("") == ""


def test_shout_all():
    assert shout_all(["a", "", "b"]) == ["A!", "B!"]


def test_shout_all_empty():
    assert shout_all([]) == []


def test_whisper():
    assert whisper("OK") == "ok..."


def test_whisper_nothing():
    assert whisper("") == ""
""",
    "tests/test_numbers.py": """\
from calc import clamp, intcomma, ordinal


class TestOrdinal:
    def test_first(self):
        assert ordinal(1) == "1st"

    def test_teens(self):
        assert ordinal(12) == "12th"

    def test_third(self):
        assert ordinal(23) == "23rd"


class TestIntcomma:
    def test_small(self):
        assert intcomma(12) == "12"

    def test_million(self):
        assert intcomma(1234567) == "1,234,567"

    def test_negative(self):
        assert intcomma(-1000) == "-1,000"


class TestClamp:
    def test_inside(self):
        assert clamp(2, 0, 3) == 2

    def test_outside(self):
        assert clamp(9, 0, 3) == 3
""",
    "tests/test_version.py": """\
from calc import Version


def test_equal():
    assert Version("1.2") == Version("1.2")


def test_order():
    assert Version("1.10") > Version("1.9")


def test_sorted():
    assert sorted([Version("2.0"), Version("1.0")]) == [Version("1.0"), Version("2.0")]
""",
    "tests/test_wrap.py": """\
from calc.wrap import labelled


@labelled("double")
def double(x):
    return 2 * x


def test_call():
    assert double(3) == 6


def test_describe():
    assert double.describe() == "double: double"
""",
    "tests/test_untraced.py": """\
import sys


def test_not_traced():
    # Stands for a suite that tracing breaks (one with its own profiler, say).
    assert "--fb-trace" not in sys.argv
""",
    "tests/tests.py": """\
def test_truth():
    assert 1 + 1 == 2
""",
    "tests/tests.md": """\
# Clamping

>>> 2 + 2
4
""",
}


def make_unit_project(path: Path) -> str:
    """The repository in one commit; returns its id."""
    return commit_files(path, FILES, "calc", when=1_650_000_000)
