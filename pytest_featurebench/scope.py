"""Which code is the project's, which is the tests', and what to call it.

Tracers ask :meth:`ProjectScope.classify` about every code object they meet.
The answer depends only on the code object, so it is computed once and kept,
keyed by ``id(code)`` with the code object held alive so the id cannot be
reused. (Code objects compare by value and two identical functions in two
files compare equal, so they cannot be dict keys themselves.)
"""

from __future__ import annotations

import ast
import enum
import fnmatch
import os
import sys
from pathlib import Path
from types import CodeType
from typing import List, Sequence  # noqa: UP035 - Python 3.9+

FunctionId = tuple[str, str, int]  # (path relative to rootdir, qualname, first line)

_CO_NEWLOCALS = 0x0002  # set on function code, not on module or class bodies
_TEST_DIRS = frozenset({"tests", "test", "testing"})
_INSTALLED_DIRS = frozenset({"site-packages", "dist-packages"})
# doctest compiles each example under the name "<doctest NAME[N]>", as a
# <module> code object, and runs it inside the doctest item's call phase.
_DOCTEST_FILENAME = "<doctest "
_PLUGIN_DIR = os.path.dirname(os.path.realpath(__file__)) + os.sep


class Kind(enum.Enum):
    PROJECT = "project"  # a function of the code under test
    ROOT = "root"  # test code: depth is counted from here
    MODULE = "module"  # a module body: what it runs is import time
    INLINE = "inline"  # <lambda>, <genexpr>, <listcomp>...: a frame that adds no depth
    OTHER = "other"  # everything else: stdlib, site-packages, pytest, us


class ProjectScope:
    """Classifies code objects for one session."""

    def __init__(self, rootdir: str, trace_roots: Sequence[str], test_globs: Sequence[str]):
        self.rootdir = os.path.realpath(rootdir)
        self.trace_roots = tuple(os.path.realpath(r).rstrip(os.sep) + os.sep for r in trace_roots)
        self.test_globs = (*test_globs, "conftest.py")
        self._files: dict[str, tuple[Kind, str]] = {}
        self._codes: dict[int, tuple[CodeType, Kind, FunctionId | None]] = {}
        self._qualnames: dict[str, dict[tuple[str, int], str]] = {}

    def classify(self, code: CodeType) -> tuple[Kind, FunctionId | None]:
        """The kind of ``code`` and, for project functions, its identity."""
        known = self._codes.get(id(code))
        if known is None:
            known = (code, *self._classify_code(code))
            self._codes[id(code)] = known
        return known[1], known[2]

    def _classify_code(self, code: CodeType) -> tuple[Kind, FunctionId | None]:
        if code.co_filename.startswith(_DOCTEST_FILENAME):
            return Kind.ROOT, None  # an example's <module> code runs as the test, not an import
        if code.co_name == "<module>":
            return Kind.MODULE, None
        file_kind, relpath = self.classify_file(code.co_filename)
        if file_kind is Kind.ROOT:
            return Kind.ROOT, None
        if code.co_name.startswith("<"):
            return Kind.INLINE, None
        if file_kind is Kind.PROJECT and code.co_flags & _CO_NEWLOCALS:
            return Kind.PROJECT, (relpath, self._qualname(code), code.co_firstlineno)
        return Kind.OTHER, None

    def classify_file(self, filename: str) -> tuple[Kind, str]:
        """PROJECT, ROOT (a test file) or OTHER, with the path relative to rootdir."""
        known = self._files.get(filename)
        if known is None:
            known = self._classify_path(filename)
            self._files[filename] = known
        return known

    def _classify_path(self, filename: str) -> tuple[Kind, str]:
        if filename.startswith("<"):  # <string>, <frozen importlib._bootstrap>, ...
            return Kind.OTHER, ""
        path = os.path.realpath(filename)
        if path.startswith(_PLUGIN_DIR):
            return Kind.OTHER, ""
        relpath = os.path.relpath(path, self.rootdir).replace(os.sep, "/")
        trace_root = next((r for r in self.trace_roots if path.startswith(r)), None)
        base = trace_root or ("" if relpath.startswith("../") else self.rootdir + os.sep)
        # A virtualenv inside the project holds installed code, tests dirs and all;
        # a trace root that is itself in site-packages still counts as the project.
        if not base or _INSTALLED_DIRS.intersection(path[len(base) :].split(os.sep)):
            return Kind.OTHER, ""
        if self.is_test_path(relpath):
            return Kind.ROOT, relpath
        return (Kind.PROJECT, relpath) if trace_root else (Kind.OTHER, "")

    def is_test_path(self, relpath: str) -> bool:
        """Test modules, conftest files and anything in a tests directory."""
        parts = relpath.split("/")
        if _TEST_DIRS.intersection(parts[:-1]):
            return True
        return any(fnmatch.fnmatch(parts[-1], glob) for glob in self.test_globs)

    def _qualname(self, code: CodeType) -> str:
        qualname: str | None = getattr(code, "co_qualname", None)  # Python 3.11+
        if qualname is not None:
            return qualname
        names = self._qualnames.get(code.co_filename)
        if names is None:
            names = qualnames_by_line(code.co_filename)
            self._qualnames[code.co_filename] = names
        return names.get((code.co_name, code.co_firstlineno), code.co_name)


def qualnames_by_line(filename: str) -> dict[tuple[str, int], str]:
    """Map (name, first line) to qualified name, for interpreters before 3.11."""
    try:
        tree = ast.parse(Path(filename).read_bytes())
    except (OSError, SyntaxError, ValueError):
        return {}
    found: dict[tuple[str, int], str] = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                first = min([child.lineno] + [d.lineno for d in child.decorator_list])
                found[(child.name, first)] = prefix + child.name
                visit(child, f"{prefix}{child.name}.<locals>.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(tree, "")
    return found


def default_test_globs(python_files: List[str]) -> List[str]:  # noqa: UP006
    """pytest's ``python_files`` setting, which names the test modules."""
    return list(python_files) or ["test_*.py", "*_test.py"]


def interpreter_supports_monitoring() -> bool:
    return sys.version_info >= (3, 12)
