"""Tracing a real library's suite: cachetools 5.5.2 from PyPI, 216 tests."""

from __future__ import annotations

import ast
from pathlib import Path

import coverage
import pytest

from tests.conftest import Inner, InnerRun
from tests.support.sdists import unpack_sdist

pytestmark = pytest.mark.network


@pytest.fixture(scope="module")
def cachetools_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return unpack_sdist("cachetools", "5.5.2", tmp_path_factory.mktemp("sdist"))


@pytest.fixture
def traced(cachetools_root: Path, inner: Inner) -> InnerRun:
    """The suite traced with per-test coverage contexts alongside, as an oracle."""
    done = inner.trace(
        cachetools_root,
        "-p",
        "pytest_cov",
        "--cov=cachetools",
        "--cov-context=test",
        "--cov-report=",
        "-W",
        "ignore::DeprecationWarning",
        env={"PYTHONPATH": "src"},
    )
    assert done.result.returncode == 0, done.result.stdout[-3000:]
    return done


def callers(traced: InnerRun, key: str) -> dict[str, int]:
    return {test: calls[key] for test, calls in traced.traces().items() if key in calls}


def test_named_tests_reach_named_functions(traced: InnerRun) -> None:
    """Tests of the key functions reach them directly; LRU tests reach the LRU cache."""
    hashkey = "src/cachetools/keys.py::hashkey:37"
    assert callers(traced, hashkey)["tests/test_keys.py::CacheKeysTest::test_hashkey"] == 1
    lru = callers(traced, "src/cachetools/__init__.py::LRUCache.__getitem__:210")
    assert "tests/test_lru.py::LRUCacheTest::test_lru" in lru
    assert not any(test.startswith("tests/test_fifo.py") for test in lru)
    assert len(traced.traces()) == 216


def function_body_lines(path: Path) -> dict[tuple[str, int], int]:
    """(qualname, first line as the tracer gives it) -> first line of the body."""
    found: dict[tuple[str, int], int] = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                body = child.body
                if ast.get_docstring(child) is not None and len(body) > 1:
                    body = body[1:]
                # Declarations compile to no code, so coverage never sees their line run.
                body = [s for s in body if not isinstance(s, (ast.Global, ast.Nonlocal))] or body
                first = min([child.lineno] + [d.lineno for d in child.decorator_list])
                if body[0].lineno > child.lineno:  # a one-line def runs its line at import
                    found[(prefix + child.name, first)] = body[0].lineno
                visit(child, f"{prefix}{child.name}.<locals>.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")

    visit(ast.parse(path.read_text()), "")
    return found


def test_each_functions_callers_are_the_tests_that_run_it(
    traced: InnerRun, cachetools_root: Path
) -> None:
    """For each library function, traced callers are the tests whose coverage runs its body."""
    data = coverage.CoverageData(basename=str(cachetools_root / ".coverage"))
    data.read()
    compared = 0
    for source in sorted((cachetools_root / "src" / "cachetools").glob("*.py")):
        relpath = source.relative_to(cachetools_root).as_posix()
        contexts = data.contexts_by_lineno(str(source))
        for (qualname, line), body_line in function_body_lines(source).items():
            oracle = {
                context.rsplit("|", 1)[0]
                for context in contexts.get(body_line, [])
                if context.endswith(("|setup", "|run"))
            }
            ours = set(callers(traced, f"{relpath}::{qualname}:{line}"))
            assert ours == oracle, f"{relpath}::{qualname}:{line}"
            compared += bool(oracle)
    assert compared >= 50
