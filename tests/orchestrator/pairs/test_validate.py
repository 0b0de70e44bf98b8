"""Splicing a response in place of the seed's definition, by syntax-tree position."""

from __future__ import annotations

import pytest

from orchestrator.pairs.validate import SpliceError, splice

MODULE = '''\
class Box:
    @property
    def size(self):
        """The size."""
        return 1

    def other(self):
        return 2
'''


def test_a_method_is_replaced_decorators_and_all_at_its_indent() -> None:
    """The response, dedented, takes the lines from the decorator to the end."""
    response = "@property\ndef size(self):\n    return 42\n"
    (text,) = splice({"m.py": MODULE}, "m.py", "Box.size", response).values()
    assert text == MODULE.replace(
        '    @property\n    def size(self):\n        """The size."""\n        return 1\n',
        "    @property\n    def size(self):\n        return 42\n",
    )


def test_a_response_that_breaks_the_module_is_refused() -> None:
    """A response that does not parse in place is a splice error, not a broken tree."""
    with pytest.raises(SpliceError, match="does not parse with the response in"):
        splice({"m.py": MODULE}, "m.py", "Box.other", "def other(self):\nreturn 2\n")


def test_an_unknown_target_is_refused() -> None:
    """A qualname the module does not define cannot be spliced."""
    with pytest.raises(SpliceError, match=r"no function Box\.missing"):
        splice({"m.py": MODULE}, "m.py", "Box.missing", "def missing(self):\n    pass\n")
