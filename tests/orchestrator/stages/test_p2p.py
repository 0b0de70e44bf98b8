"""The p2p overlap check compares like with like."""

from __future__ import annotations

import pytest

from orchestrator.stages.p2p import touches

TOP = [
    {"kind": "class", "path": "pkg/shapes.py", "qualname": "Circle", "methods": ["Circle.area"]},
    {"kind": "function", "path": "pkg/shapes.py", "qualname": "describe", "line": 30},
]


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (("pkg/shapes.py", "Circle.area", 5, 2), True),  # a method of a top class
        (("pkg/shapes.py", "Circle.Inner.go", 9, 3), True),  # nested in the class
        (("pkg/shapes.py", "CircleX.area", 12, 1), False),  # another class sharing a prefix
        (("pkg/other.py", "Circle.area", 5, 1), False),  # same name, other file
        (("pkg/shapes.py", "describe", 30, 1), True),  # the function itself
        (("pkg/shapes.py", "describe", 20, 1), False),  # a redefinition earlier in the file
        (("pkg/shapes.py", "Square.describe", 40, 1), False),  # a method with the same name
    ],
)
def test_touches(row: tuple[str, str, int, int], expected: bool) -> None:
    assert touches(row, TOP) is expected
