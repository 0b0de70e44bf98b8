"""Self-tests: taking tests out of a reply, offline tests from examples, the solution module."""

from __future__ import annotations

import ast

from orchestrator.pairs.selftests import (
    NO_EXAMPLES,
    checks,
    extract_tests,
    offline_tests,
    solution_module,
    verdict,
)
from orchestrator.pipeline.process import CommandResult


def test_tests_come_from_the_fenced_block_without_their_own_copy_of_the_function() -> None:
    reply = (
        "Here:\n```python\nfrom solution import add\n\ndef add(a, b):\n    return 0\n\n"
        "def test_add():\n    assert add(1, 2) == 3\n\nassert add(0, 0) == 0\n```\nDone."
    )
    code, why = extract_tests(reply, "add")
    assert code is not None, why
    assert "return 0" not in code
    assert "from solution" not in code
    assert checks(ast.parse(code)) == 2


def test_a_reply_without_a_test_is_none_with_its_reason() -> None:
    code, why = extract_tests("```python\ndef helper():\n    return 1\n```", "add")
    assert code is None
    assert why.startswith("no tests:")


def test_unittest_cases_count_as_checks() -> None:
    tree = ast.parse("import unittest\nclass T(unittest.TestCase):\n    def test_a(self): pass\n")
    assert checks(tree) == 1


def test_offline_tests_are_the_docstring_examples_or_none() -> None:
    assert offline_tests("Add them.", "add") == {"tests": None, "tests_reason": NO_EXAMPLES}
    found = offline_tests("Add them.\n\n>>> add(1, 2)\n3\n", "add")["tests"]
    assert ">>> add(1, 2)" in found
    compile(found, "test_solution.py", "exec")


def test_the_solution_keeps_future_imports_first_and_guards_the_others() -> None:
    text = solution_module(
        ["from __future__ import annotations", "import missing_here"], "def f():\n    return 1\n"
    )
    assert text.startswith("from __future__ import annotations\n")
    namespace: dict[str, object] = {}
    exec(compile(text, "solution.py", "exec"), namespace)  # the missing import is skipped
    assert "f" in namespace


def test_a_run_without_a_report_or_with_a_timeout_says_so() -> None:
    hung = CommandResult(("python",), -9, "", 5.0, timed_out=True)
    assert verdict(hung, 5) == ("self-tests fail: timed out after 5 s", [])
    crashed = CommandResult(("python",), 1, "Killed\n", 0.1)
    why, _ = verdict(crashed, 5)
    assert why == "self-tests fail: the tests ended without a report (exit 1): Killed"
