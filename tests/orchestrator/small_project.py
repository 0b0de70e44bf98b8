"""A small project with the failure modes the runner must tell apart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.gitrepos import commit_files

PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "shapes"
version = "0.1"

[tool.setuptools]
packages = ["shapes"]
"""

SHAPES = """\
class Circle:
    def __init__(self, r):
        self.r = r

    def area(self):
        return 3 * self.r * self.r


class Square:
    def __init__(self, side):
        self.side = side

    def area(self):
        return self.side * self.side


def total_area(shapes):
    return sum(shape.area() for shape in shapes)
"""

TEST_CIRCLE = """\
from shapes import Circle


def test_area():
    assert Circle(2).area() == 12


def test_zero():
    assert Circle(0).area() == 0
"""

TEST_SQUARE = """\
from shapes import Square, total_area


def test_area():
    assert Square(3).area() == 9


def test_total():
    assert total_area([Square(1), Square(2)]) == 5
"""

TEST_FLAKY = """\
import os
from pathlib import Path

from shapes import Square

MARKER = Path({marker!r})


def test_stable():
    assert Square(2).area() == 4


def test_flaky():
    # Fails on the first run only: the marker remembers that run.
    first = not MARKER.exists()
    MARKER.touch()
    assert not first
"""

TEST_NETWORK = """\
import urllib.request

from shapes import Circle


def test_needs_network():
    urllib.request.urlopen("https://pypi.org/simple/", timeout=5)


def test_local():
    assert Circle(1).area() == 3
"""


def make_small_project(path: Path, marker: Path) -> list[str]:
    """The repository, in two commits; returns their ids, oldest first."""
    first = commit_files(
        path,
        {
            "pyproject.toml": PYPROJECT,
            "shapes/__init__.py": SHAPES,
            "tests/test_circle.py": TEST_CIRCLE,
        },
        "shapes and circle tests",
        when=1_600_000_000,  # 2020-09-13
    )
    second = commit_files(
        path,
        {
            "tests/test_square.py": TEST_SQUARE,
            "tests/test_flaky.py": TEST_FLAKY.format(marker=str(marker)),
            "tests/test_network.py": TEST_NETWORK,
        },
        "more tests",
        when=1_700_000_000,  # 2023-11-14
    )
    return [first, second]


def assert_runner_verdicts(files: dict[str, Any]) -> None:
    """The runner's verdicts on the small project, whichever backend ran it."""
    verdict = {path: info["runner"] for path, info in files.items()}
    assert verdict["tests/test_circle.py"]["status"] == "ok"
    assert verdict["tests/test_square.py"]["status"] == "ok"
    network = verdict["tests/test_network.py"]
    assert network["status"] == "failed"
    assert "tests/test_network.py::test_needs_network" in network["reason"]
    flaky = verdict["tests/test_flaky.py"]
    assert flaky["status"] == "flaky"
    assert flaky["flaky"] == ["tests/test_flaky.py::test_flaky"]
