"""Runs a response's self-tests; copied into the scratch tree and run there, in the sandbox.

Standard library only: the interpreter runs with ``-I -S``. It caps its own
address space first (``argv[1]`` bytes; every process the tests fork inherits
the cap), imports ``test_solution`` (which runs its top-level asserts), then
calls each ``test_*`` function and runs each ``unittest.TestCase``. The last
line of its output is ``RESULT_MARK`` and a JSON object. A process the tests
forked never reports: only the first process prints.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import resource
import sys
import traceback
import unittest
from collections.abc import Callable
from typing import Any

RESULT_MARK = "FBENCH-SELF-TESTS "


def error_text(exc: BaseException) -> str:
    """``Type: message`` on one line, cut short."""
    message = " ".join(str(exc).split())[:300]
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def run_function(name: str, function: Callable[[], Any]) -> dict[str, Any]:
    try:
        function()
    except BaseException as exc:  # SystemExit and KeyboardInterrupt included: a test's failure
        traceback.print_exc()
        return {"name": name, "passed": False, "error": error_text(exc)}
    return {"name": name, "passed": True, "error": None}


def run_cases(module: Any) -> list[dict[str, Any]]:
    suite = unittest.defaultTestLoader.loadTestsFromModule(module)
    result = unittest.TestResult()
    suite.run(result)
    failed = {test.id(): text for test, text in [*result.failures, *result.errors]}
    cases: list[dict[str, Any]] = []
    for test in _flatten(suite):
        text = failed.get(test.id())
        error = text.strip().splitlines()[-1][:300] if text else None
        cases.append({"name": test.id(), "passed": text is None, "error": error})
    return cases


def _flatten(suite: unittest.TestSuite) -> list[unittest.TestCase]:
    found: list[unittest.TestCase] = []
    for test in suite:
        found += _flatten(test) if isinstance(test, unittest.TestSuite) else [test]
    return found


def run_tests() -> dict[str, Any]:
    try:
        module = importlib.import_module("test_solution")
    except BaseException as exc:  # a top-level assert that fails, or a response that breaks
        traceback.print_exc()
        return {"collect_error": error_text(exc), "tests": []}
    functions = [
        (name, value)
        for name, value in vars(module).items()
        if name.startswith("test") and inspect.isfunction(value)
        if value.__module__ == module.__name__
    ]
    tests = [run_function(name, function) for name, function in functions]
    return {"collect_error": None, "tests": tests + run_cases(module)}


def main() -> None:
    memory = int(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    sys.path.insert(0, os.getcwd())
    first = os.getpid()
    try:
        result = run_tests()
    finally:
        if os.getpid() != first:  # a fork of the tests came back here: it has nothing to say
            os._exit(1)
    sys.stdout.flush()
    print("\n" + RESULT_MARK + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
