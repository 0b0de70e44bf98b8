"""What the pairs stages read off a function's syntax tree."""

from __future__ import annotations

from orchestrator.pairs.functions import (
    complexity,
    extract_function,
    function_facts,
    is_test_helper,
    ngrams,
    normalised_hash,
    parse_function,
    similarity,
)

MODULE = '''\
import re


class Box:
    @staticmethod
    def pick(items, key=None):
        """The first item ``key`` likes."""
        for item in items:
            if key is None or key(item):
                return item
        return None

    def nothing(self):
        def inner():
            return 1
        inner()
'''


def test_facts_of_a_decorated_method() -> None:
    """Source starts at the decorator; complexity counts the loop, the if and the ``or``."""
    facts = function_facts(MODULE, "Box.pick")
    assert facts is not None
    assert facts.source.startswith("@staticmethod\ndef pick(items, key=None):")
    assert (facts.first_line, facts.last_line, facts.lines) == (5, 11, 7)
    assert facts.signature == "def pick(items, key=None):"
    assert facts.docstring == "The first item ``key`` likes."
    assert facts.returns
    assert facts.complexity == 4


def test_a_return_of_a_nested_function_is_not_the_functions_own() -> None:
    """``nothing`` returns nothing, though the function nested in it does."""
    facts = function_facts(MODULE, "Box.nothing")
    assert facts is not None
    assert not facts.returns


def test_what_is_no_function_has_no_facts() -> None:
    """A class, a missing name and a syntax error give None."""
    assert function_facts(MODULE, "Box") is None
    assert function_facts(MODULE, "Box.absent") is None
    assert function_facts("def (:", "f") is None


def test_comprehension_filters_count_as_branches() -> None:
    """A comprehension counts once, and each of its filters once more."""
    node = parse_function("def f(xs):\n    return [x for x in xs if x if x > 1]\n")
    assert node is not None
    assert complexity(node) == 4


def test_test_helpers_are_told_by_path_and_name() -> None:
    """Test directories, test modules, conftest and test_* names are test helpers."""
    assert is_test_helper("tests/util.py", "make")
    assert is_test_helper("pkg/conftest.py", "fixture")
    assert is_test_helper("pkg/test_core.py", "helper")
    assert is_test_helper("pkg/core.py", "TestCase.check")
    assert not is_test_helper("pkg/core.py", "contest")


def test_renamed_copies_hash_alike_and_changed_code_does_not() -> None:
    """Names, docstrings and layout do not matter to the normalised hash; operators do."""
    one = 'def add(a, b):\n    """Add."""\n    return a + b\n'
    two = "def plus(x, y):\n    return (x +\n            y)  # sum\n"
    three = "def add(a, b):\n    return a - b\n"
    assert normalised_hash(one) == normalised_hash(two)
    assert normalised_hash(one) != normalised_hash(three)


def test_token_ngrams_measure_closeness() -> None:
    """A one-token change stays close; other code is far."""
    base = "def f(a):\n    total = a * 2 + 1\n    return total\n"
    near = "def f(a):\n    total = a * 2 + 1\n    return total + 0\n"
    far = "def g(items):\n    return sorted(set(items))\n"
    assert similarity(ngrams(base, 3), ngrams(near, 3)) > 0.7
    assert similarity(ngrams(base, 3), ngrams(far, 3)) < 0.2


def test_the_response_is_the_named_function_of_the_reply() -> None:
    """Fenced or plain, the asked-for function is taken; otherwise the reason says why."""
    fenced = "Sure.\n```python\nimport os\n\ndef go(x):\n    return x\n```\nDone."
    assert extract_function(fenced, "go") == ("def go(x):\n    return x\n", "")
    plain = "@cache\ndef go(x):\n    return x\n"
    assert extract_function(plain, "go")[0] == plain
    assert extract_function(fenced, "stop")[1] == "wrong name: the reply defines go, not stop"
    assert extract_function("no code here", "go")[1].startswith("no function")


def test_functions_calling_different_globals_are_not_exact_duplicates() -> None:
    """Local names are anonymised, the globals a function calls are not."""
    fifo = "def fifo(size):\n    return make(FIFOCache(size))\n"
    lfu = "def lfu(n):\n    return make(LFUCache(n))\n"
    assert normalised_hash(fifo) != normalised_hash(lfu)
    assert normalised_hash(fifo) == normalised_hash(fifo.replace("size", "count"))
