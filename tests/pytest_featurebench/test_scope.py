"""Doctest examples are test code: what they call is the doctest item's, not import time."""

from __future__ import annotations

import pytest

from tests.conftest import Inner, InnerRun

TEXT = '''\
"""Text helpers.

>>> shout("hi")
'HI!'
"""


def shout(word):
    """Upper-case ``word`` with a bang.

    >>> shout("a")
    'A!'
    """
    return bang(word.upper())


def bang(word):
    return word + "!"


def whisper(word):
    return word.lower()
'''

README = """\
# textpkg

>>> from textpkg.text import whisper
>>> def twice(word):
...     return whisper(word) * 2
>>> twice("AB")
'abab'
"""

TESTS = """\
from textpkg.text import shout


def test_shout():
    assert shout("x") == "X!"
"""

SHOUT = "textpkg/text.py::shout:8"
BANG = "textpkg/text.py::bang:17"
WHISPER = "textpkg/text.py::whisper:21"


@pytest.fixture
def traced(pytester: pytest.Pytester, inner: Inner) -> InnerRun:
    pytester.makepyfile(**{"textpkg/__init__": "", "textpkg/text": TEXT, "tests/test_text": TESTS})
    (pytester.path / "README.md").write_text(README)
    done = inner.trace(pytester.path, "--doctest-modules", "--doctest-glob=*.md")
    assert done.result.returncode == 0, done.result.stdout + done.result.stderr
    return done


def test_module_doctests_call_at_depth_one(traced: InnerRun) -> None:
    """``--doctest-modules`` items reach what their examples call, counted from the example."""
    traces = traced.traces()
    assert traces["textpkg/text.py::textpkg.text"] == {SHOUT: 1, BANG: 2}
    assert traces["textpkg/text.py::textpkg.text.shout"] == {SHOUT: 1, BANG: 2}
    assert traces["tests/test_text.py::test_shout"] == {SHOUT: 1, BANG: 2}


def test_markdown_doctests_are_tests(traced: InnerRun) -> None:
    """A README.md doctest reaches a function through a helper its example defines."""
    assert traced.traces()["README.md::README.md"] == {WHISPER: 1}


def test_doctest_calls_are_not_import_time(traced: InnerRun) -> None:
    """Nothing that only doctest examples call is recorded as run at import."""
    assert not set(traced.import_time()) & {SHOUT, BANG, WHISPER}
