"""The exceptions a statement must name: those the F2P tests expect and removed code raises.

A test that says only ``pytest.raises(ValueError)`` asserts no message, so
:func:`orchestrator.extract.fairness.observable_strings` finds nothing to list; yet an
agent told "Durations can be added to dates" cannot guess that a fractional month must
raise ``ValueError``, nor that a date-time without ``T`` raises the library's own
``ISO8601Error`` and not the ``ValueError`` of an unpacking. So each listed interface
whose removed code raises an exception class the tests expect gets those ``raise``
expressions quoted under its stub.
"""

from __future__ import annotations

import ast
import textwrap
from collections.abc import Iterable

from orchestrator.extract.masking import Masked, Target, parse

# pytest.raises(X), self.assertRaises(X) and their variants: the class is the first argument.
EXPECTING = frozenset(
    ("raises", "assertRaises", "assertRaisesRegex", "assertRaisesRegexp", "failUnlessRaises")
)
MAX_SHOWN = 160  # a raise expression longer than this is cut: the class and the start say it


def expected_exceptions(test_source: str) -> set[str]:
    """The exception class names (last dotted part) a test module expects to be raised."""
    names: set[str] = set()
    for node in ast.walk(parse(test_source)):
        if isinstance(node, ast.Call) and called(node.func) in EXPECTING and node.args:
            first = node.args[0]
            classes = first.elts if isinstance(first, ast.Tuple) else [first]
            names |= {n for n in map(called, classes) if n}
    return names


def raised_for_tests(
    test_source: str, masked: Masked, listed: Iterable[Target]
) -> dict[Target, list[str]]:
    """Per listed object, the ``raise`` expressions of its removed code whose exception
    class the tests expect, as written (``ValueError('start or end required')``)."""
    expected = expected_exceptions(test_source)
    wanted = set(listed)
    found: dict[Target, list[str]] = {}
    for removed in masked.removed:
        if removed.target not in wanted:
            continue
        for text in _raises(removed.source, expected):
            said = found.setdefault(removed.target, [])
            said += [] if text in said else [text]
    return found


def _raises(source: str, expected: set[str]) -> list[str]:
    try:
        tree = parse(textwrap.dedent(source))
    except SyntaxError:  # a body that dedent cannot free (odd string literals)
        return []
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and node.exc is not None:
            exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if called(exc) in expected:
                text = ast.unparse(node.exc)
                found.append(text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "...")
    return found


def called(node: ast.expr) -> str:
    """``raises`` of ``pytest.raises``, ``ValueError`` of ``ValueError``, else ""."""
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""
