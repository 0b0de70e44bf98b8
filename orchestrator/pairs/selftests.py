"""Self-tests: how a ``--source`` pair is validated, the StarCoder2 Self-Align way.

The seed has no repository tests, so the response is checked by tests written
for its instruction, run in the sandbox (no network, a private ``/tmp``, only
the scratch tree writable, CPU time and processes capped) under
``timeout_self_tests`` seconds and ``self_tests_memory_mb`` of address space,
by the standard library alone (``python -I -S``).

- **With an LLM** the model writes them (``templates/prompts/pairs_tests.md``)
  from the instruction alone, without seeing the response.
- **Offline** they are the doctest examples of the seed's docstring, which the
  offline instruction quotes: a seed whose docstring has no example has no
  tests, and its pair fails validation with that reason. Offline, the response is
  the seed itself, so this checks that the examples hold and that the function
  runs on its own with its module's imports: what a training pair needs.

Both the harness and the response run in one process, so a response could
fake the harness's report; the sandbox keeps such a response from harming
anything, not from lying about its own tests.
"""

from __future__ import annotations

import ast
import doctest
import json
import re
import sys
import textwrap
from pathlib import Path
from typing import Any

from orchestrator.environments import sandbox
from orchestrator.extract.worktrees import scratch_dir
from orchestrator.llm.client import LLM, LLMError
from orchestrator.llm.prompts import load_prompt
from orchestrator.pairs import selftest_harness
from orchestrator.pipeline.process import CommandResult, run_command
from orchestrator.pipeline.storage import fingerprint

HARNESS = Path(selftest_harness.__file__).read_text(encoding="utf-8")
NO_EXAMPLES = (
    "no tests: the docstring has no >>> examples (offline, the self-tests are its examples)"
)
_DOCTEST_TESTS = '''\
import doctest

import solution

EXAMPLES = {examples!r}


def test_docstring_examples():
    """The examples of the seed's docstring, run against the response."""
    parser = doctest.DocTestParser()
    test = parser.get_doctest(EXAMPLES, dict(vars(solution)), "{name}", None, 0)
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    report = []
    result = doctest.DocTestRunner(optionflags=flags).run(test, out=report.append)
    print("".join(report))
    last = ("".join(report).strip().splitlines() or [""])[-1]
    assert not result.failed, f"{{result.failed}} of {{result.attempted}} examples fail: {{last}}"
'''


def write_tests(llm: LLM | None, seed: dict[str, Any], instruction: str) -> dict[str, Any]:
    """``{"tests": code}``, or ``{"tests": None, "tests_reason": why}``."""
    name = seed["qualname"].rsplit(".", 1)[-1]
    if llm is None:
        return offline_tests(seed["docstring"] or "", name)
    try:
        reply = llm.complete(load_prompt("pairs_tests"), {"instruction": instruction, "name": name})
    except LLMError as exc:
        return {"tests": None, "tests_reason": f"llm error: {exc}", "tests_error": True}
    code, why = extract_tests(reply, name)
    return {"tests": code, "tests_reply": reply} if code else {"tests": None, "tests_reason": why}


def offline_tests(docstring: str, name: str) -> dict[str, Any]:
    """A test of the docstring's ``>>>`` examples; none when it has no example."""
    if not doctest.DocTestParser().get_examples(docstring):
        return {"tests": None, "tests_reason": NO_EXAMPLES}
    return {"tests": _DOCTEST_TESTS.format(examples=docstring, name=name)}


def extract_tests(reply: str, name: str) -> tuple[str | None, str]:
    """The tests of a reply (its fenced blocks, else all of it), without a definition of ``name``.

    A definition of the function under test would shadow the response, so the
    tests would check their own copy: it is taken out.
    """
    blocks = re.findall(r"```(?:python|py)?[^\n]*\n(.*?)```", reply, flags=re.DOTALL)
    for code in [*blocks, reply]:
        try:
            tree = ast.parse(textwrap.dedent(code))
        except SyntaxError:
            continue
        tree.body = [node for node in tree.body if not _defines(node, name)]
        if checks(tree):
            return ast.unparse(tree) + "\n", ""
    return None, "no tests: the reply holds no test function or assert that parses"


def _defines(node: ast.stmt, name: str) -> bool:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return node.name == name
    return isinstance(node, ast.ImportFrom) and node.module == "solution"


def checks(tree: ast.Module) -> int:
    """Top-level asserts, ``test*`` functions and ``TestCase`` classes: what the harness runs."""
    return sum(1 for node in tree.body if _is_check(node))


def _is_check(node: ast.stmt) -> bool:
    if isinstance(node, ast.FunctionDef):
        return node.name.startswith("test")
    if isinstance(node, ast.ClassDef):
        return any("TestCase" in ast.unparse(base) for base in node.bases)
    return isinstance(node, ast.Assert)


def solution_module(imports: list[str], response: str) -> str:
    """The response with its module's imports; one that cannot be imported here is skipped,
    so a function that needs it fails on its own name, not the whole file."""
    future = [line for line in imports if line.startswith("from __future__")]
    guarded = [
        f"try:\n    {line}\nexcept ImportError:\n    pass\n"
        for line in imports
        if line not in future
    ]
    return "\n".join([*future, *guarded, textwrap.dedent(response)])


def identity() -> str:
    """What a verdict depends on besides the code: the interpreter and the harness."""
    return fingerprint(sys.version, HARNESS)


def run_self_tests(
    sandboxed: bool,
    scratch_root: Path,
    files: dict[str, str],
    timeout: int,
    memory_mb: int,
    log: Path | None = None,
) -> CommandResult:
    """Run the harness over ``files`` (solution.py, test_solution.py) in a fresh scratch tree."""
    with scratch_dir(scratch_root, "self-tests-") as scratch:
        work = scratch / "work"
        work.mkdir()
        for name, text in {**files, "harness.py": HARNESS}.items():
            (work / name).write_text(text, encoding="utf-8")
        argv = [str(python()), "-I", "-S", "harness.py", str(memory_mb * 1024**2)]
        env = sandbox.clean_environment([], sandbox.HOME_INSIDE if sandboxed else str(work))
        options: dict[str, Any] = {"cwd": work, "env": env, "timeout": timeout, "log_path": log}
        if not sandboxed:  # --no-sandbox: the user's explicit choice; the limits still hold
            return run_command([*sandbox.limits_prefix(timeout), *argv], **options)
        base = Path(sys.base_prefix).resolve()
        view = sandbox.View(work.resolve(), readable=(base,), mode=sandbox.sandbox_mode())
        with sandbox.confined(view, timeout) as prefix:
            return run_command([*prefix, *argv], **options)


def python() -> Path:
    """The base interpreter of the one running fbench: outside any virtualenv's packages."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    found = Path(sys.base_prefix) / "bin" / version
    return found if found.is_file() else Path(sys.executable)


def verdict(result: CommandResult, timeout: int) -> tuple[str | None, list[str]]:
    """Why the self-tests failed (None: they passed) and the failing tests' names."""
    if result.timed_out:
        return f"self-tests fail: timed out after {timeout} s", []
    report = _report(result.output)
    if report is None:
        last = (result.output.strip().splitlines() or ["no output"])[-1][:200]
        return (
            f"self-tests fail: the tests ended without a report (exit {result.returncode}): {last}",
            [],
        )
    if report["collect_error"]:
        return f"self-tests fail: importing the tests: {report['collect_error']}", []
    failing = [test for test in report["tests"] if not test["passed"]]
    if failing:
        first = failing[0]
        return f"self-tests fail: {first['name']}: {first['error']}", [t["name"] for t in failing]
    return None, []


def _report(output: str) -> dict[str, Any] | None:
    for line in reversed(output.splitlines()):
        if line.startswith(selftest_harness.RESULT_MARK):
            try:
                found = json.loads(line[len(selftest_harness.RESULT_MARK) :])
            except json.JSONDecodeError:
                return None
            return found if isinstance(found, dict) else None
    return None
