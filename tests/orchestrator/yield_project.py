"""A small project whose cases need the data stage to recover from what traces miss.

- ``shapes/registry.py``: ``names`` looks ``area`` up in a table it builds when
  called, naming ``area`` without calling it, so no trace of
  ``tests/test_registry.py``'s ``names`` tests shows that they need it. The
  ``area`` group's case removes ``area`` and those tests fail: ``area`` is
  emptied instead (it stays, its body goes), which they are fine with.
- ``tests/test_words.py`` has a test class per function of ``shapes/words.py``,
  and ``initials`` is built on ``capital``: ``TestCapital`` cannot go alone
  (``TestInitials``' tests reach ``capital`` too), so it takes them in
  (``TestCapital-wide``).
- ``tests/test_misc.py`` checks something else: a pass-to-pass file.

Each file's functions together are over the spec's line budget (8), so no whole
file is a unit.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.gitrepos import commit_files, setuptools_pyproject

FILES = {
    "pyproject.toml": setuptools_pyproject("shapes"),
    "shapes/__init__.py": '"""Shapes and their measures."""\n',
    "shapes/registry.py": '''\
def area(width, height):
    """The area of a width by height rectangle; negative sides are an error."""
    if width < 0 or height < 0:
        raise ValueError("sides must not be negative")
    product = width * height
    return round(product, 6)


def measures():
    return {"area": area, "double": lambda x: 2 * x}


def names():
    """The names of the measures, sorted."""
    return sorted(measures())
''',
    "shapes/misc.py": """\
def perimeter(width, height):
    return 2 * (width + height)
""",
    "shapes/words.py": '''\
def capital(word):
    """The word with its first letter upper-case, the rest lower-case."""
    first, rest = word[:1], word[1:]
    return first.upper() + rest.lower()


def initials(text):
    """The first letters of the words, capitalised."""
    letters = [capital(word)[0] for word in text.split()]
    return "".join(letters)


def reverse_words(text):
    """The words in reverse order."""
    words = text.split()
    return " ".join(reversed(words))
''',
    "tests/test_words.py": """\
from shapes.words import capital, initials, reverse_words


class TestCapital:
    def test_lower(self):
        assert capital("word") == "Word"

    def test_upper(self):
        assert capital("WORD") == "Word"

    def test_empty(self):
        assert capital("") == ""


class TestInitials:
    def test_two(self):
        assert initials("big apple") == "BA"

    def test_one(self):
        assert initials("x") == "X"

    def test_none(self):
        assert initials("") == ""


class TestReverse:
    def test_two(self):
        assert reverse_words("a b") == "b a"

    def test_one(self):
        assert reverse_words("a") == "a"

    def test_spaces(self):
        assert reverse_words(" a  b ") == "b a"
""",
    "tests/test_registry.py": """\
import pytest

from shapes.registry import area, names


def test_area():
    assert area(2, 3) == 6


def test_area_fraction():
    assert area(0.5, 0.5) == 0.25


def test_area_negative():
    with pytest.raises(ValueError):
        area(-1, 2)


def test_names():
    assert names() == ["area", "double"]


def test_names_count():
    assert len(names()) == 2


def test_names_first():
    assert names()[0] == "area"
""",
    "tests/test_misc.py": """\
from shapes.misc import perimeter


def test_perimeter():
    assert perimeter(2, 3) == 10
""",
}


def make_yield_project(path: Path) -> str:
    """The repository in one commit; returns its id."""
    return commit_files(path, FILES, "shapes", when=1_650_000_000)
