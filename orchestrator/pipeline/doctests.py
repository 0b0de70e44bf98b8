"""Which collected files are test files and which are library modules collected for doctests.

One rule for the scanner (a doctest module is never a fail-to-pass file), the p2p
stage (one that holds a top object is no pass-to-pass file) and grading (``fbench
eval`` and the SWE-bench script never put one back over an agent's edits).

pytest names a module's doctest after the module's dotted name, then the object's
qualname: ``calc/shapes.py::calc.shapes.area``, and the module docstring's after the
module alone: ``calc/__init__.py::calc``, ``humanize.py::humanize``. A test is named
after its function (``test_area``, ``TestArea::test_zero``, ``test_load[calc.json]``).
A doctest in a text file (``README.md::README.md`` under ``--doctest-glob``) is a
test file like any other: it is restored, never graded as the agent left it.

The scanner asks about every collected item, eval about a case's PASS_TO_PASS. They
agree: a pass-to-pass file is one whose every test passed (the runner) and stayed
green (the data stage), so its PASS_TO_PASS items are all its items. (Not so for a
test skipped where the case was built: a library module with tests in it, under a
custom ``python_files``, whose tests all skip would read as a doctest module to eval.)
"""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatch
from pathlib import PurePosixPath

# The plugin's rule for test code (pytest_featurebench/scope.py) with pytest's default
# python_files, restated: the orchestrator shares only the records module with the plugin.
_TEST_DIRS = frozenset(("tests", "test", "testing"))
_TEST_FILES = ("test_*.py", "*_test.py", "conftest.py")


def is_test_file(relative: str) -> bool:
    """A test module, a conftest or anything in a tests directory, as the plugin decides."""
    *dirs, name = relative.split("/")
    return bool(_TEST_DIRS.intersection(dirs)) or any(fnmatch(name, g) for g in _TEST_FILES)


def doctest_modules(nodeids: Iterable[str]) -> set[str]:
    """The ``.py`` files outside the tests whose every item among ``nodeids`` is a doctest."""
    names: dict[str, list[str]] = {}
    for nodeid in nodeids:
        path, _, name = nodeid.partition("::")
        names.setdefault(path, []).append(name)
    return {
        path
        for path, found in names.items()
        if path.endswith(".py")
        and not is_test_file(path)
        and all(is_doctest_name(path, name) for name in found)
    }


def is_doctest_name(path: str, name: str) -> bool:
    """Whether ``name`` is a doctest of the module at ``path``: the module's dotted name
    from some root (the repository, ``src/``), alone or followed by a qualname."""
    parts = PurePosixPath(path).with_suffix("").parts
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    parts = tuple(part.replace(".", "_") for part in parts)  # as pytest names them
    heads = (".".join(parts[start:]) for start in range(len(parts)))
    return any(name == head or name.startswith(f"{head}.") for head in heads)
