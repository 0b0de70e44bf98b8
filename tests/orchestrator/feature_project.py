"""A small project to extract features from: what masking must get right.

- ``geom/shapes.py`` is class-heavy: a base class, two subclasses with
  same-named methods, and a ``Polygon`` class only ``test_polygon.py`` uses;
- ``geom/textutil.py`` is function-heavy, with a private helper only
  ``slugify`` calls and a function its module refers to at import time;
- ``geom/registry.py`` holds a decorator that runs at import time;
- ``geom/__init__.py`` re-exports, one name under an alias, and has ``__all__``;
- ``tests/test_round.py`` needs ``_normalize`` in a way nothing can see, so
  masking it breaks that pass-to-pass file and bisection must keep it.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.gitrepos import commit_files, setuptools_pyproject

FILES = {
    "pyproject.toml": setuptools_pyproject("geom"),
    "geom/__init__.py": '''\
"""Shapes and text helpers."""

from .registry import REGISTRY, register
from .shapes import Circle, Polygon, Square
from .textutil import count_words, slugify, wrap_words as wrap

__all__ = ["REGISTRY", "Circle", "Polygon", "Square", "count_words", "register", "slugify", "wrap"]
''',
    "geom/registry.py": '''\
"""Shapes register themselves by name when their module is imported."""

REGISTRY = {}


def register(name):
    def decorate(cls):
        REGISTRY[name] = cls
        return cls

    return decorate
''',
    "geom/shapes.py": '''\
import math

from .registry import register


class Shape:
    def area(self):
        raise NotImplementedError

    def describe(self):
        return f"{type(self).__name__} of area {self.area():.2f}"


@register("circle")
class Circle(Shape):
    def __init__(self, radius):
        self.radius = radius

    def area(self):
        return math.pi * self.radius * self.radius

    def perimeter(self):
        return 2 * math.pi * self.radius


@register("square")
class Square(Shape):
    def __init__(self, side):
        self.side = side

    def area(self):
        return self.side * self.side

    def perimeter(self):
        return 4 * self.side


class Polygon(Shape):
    """A simple polygon given by its vertices, in order."""

    def __init__(self, points: list[tuple[float, float]], *, closed: bool = True) -> None:
        if len(points) < 3:
            raise ValueError("a polygon needs at least three points")
        self.points = list(points)
        self.closed = closed

    def edges(self):
        """Pairs of consecutive vertices, wrapping around."""
        count = len(self.points)
        return [(self.points[i], self.points[(i + 1) % count]) for i in range(count)]

    def area(self):
        twice = sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in self.edges())
        return abs(twice) / 2

    def perimeter(self):
        return sum(math.dist(start, end) for start, end in self.edges())
''',
    "geom/textutil.py": '''\
import re
import textwrap


def _normalize(text):
    """Lower-case ASCII words separated by single spaces."""
    cleaned = re.sub(r"[^a-z0-9]+", " ", text.lower())
    return " ".join(cleaned.split())


def slugify(text, /, separator="-", *, max_length=None):
    """A URL slug of ``text``: lower-case words joined by ``separator``."""
    slug = _normalize(text).replace(" ", separator)
    if max_length is not None:
        slug = slug[:max_length].rstrip(separator)
    return slug


def wrap_words(text, width=20):
    """Lines of at most ``width`` characters, broken between words."""
    return textwrap.wrap(text, width=width, break_long_words=False)


# Referred to at import time, so it can only be emptied, not removed.
wrap_words.__doc__ += " Long words stay whole."


def count_words(text):
    return len(text.split())
''',
    "tests/test_textutil.py": """\
from geom import slugify
from geom import wrap as wrap_text


def test_slug():
    assert slugify("Hello, World!") == "hello-world"


def test_separator():
    assert slugify("a b  c", "_") == "a_b_c"


def test_max_length():
    assert slugify("one two three", max_length=7) == "one-two"


def test_wrap():
    assert wrap_text("the quick brown fox jumps", 10) == ["the quick", "brown fox", "jumps"]
""",
    "tests/test_polygon.py": """\
import pytest

from geom.shapes import Polygon

SQUARE = [(0, 0), (2, 0), (2, 2), (0, 2)]


def test_area():
    assert Polygon(SQUARE).area() == 4


def test_perimeter():
    assert Polygon(SQUARE).perimeter() == 8


def test_edges():
    assert Polygon(SQUARE).edges()[-1] == ((0, 2), (0, 0))


def test_too_few_points():
    with pytest.raises(ValueError):
        Polygon([(0, 0), (1, 1)])
""",
    "tests/test_round.py": """\
from geom import REGISTRY, Circle, Square


def test_registered():
    assert REGISTRY == {"circle": Circle, "square": Square}


def test_circle():
    assert round(Circle(1).area(), 2) == 3.14


def test_square():
    assert Square(3).perimeter() == 12


def test_describe():
    assert Square(2).describe() == "Square of area 4.00"


def test_text_helpers_exist():
    import subprocess
    import sys

    # In another process: neither the trace nor the static analysis sees this use.
    code = "from geom.textutil import _normalize; assert _normalize('A  b') == 'a b'"
    subprocess.run([sys.executable, "-c", code], check=True)
""",
    "tests/test_counting.py": """\
from geom import count_words


def test_count():
    assert count_words("a b c") == 3


def test_empty():
    assert count_words("") == 0


def test_spaces():
    assert count_words("  a  ") == 1
""",
}


def make_feature_project(path: Path) -> str:
    """The repository in one commit; returns its id."""
    return commit_files(path, FILES, "geom", when=1_650_000_000)
