"""A collection where the project itself cannot be imported is the environment's failure.

When every test file that pytest tried fails with ``No module named '<pkg>'`` and
``<pkg>`` is one of the repository's own top-level packages, the environment does
not hold the project (an install command that installs nothing, an editable
install whose checkout moved): that collection says nothing about the tests, so it
must never be stored as their result. One file failing on an optional dependency,
or on a submodule of the project (``pkg._speedups``), stays data.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from pathlib import Path

_MISSING = re.compile(r"No module named '([^']+)'")
# Folders whose modules are not the project.
_NOT_LIBRARY = frozenset((".git", "tests", "test", "testing"))
_SCRIPTS = {"conftest", "setup", "noxfile"}


def unimportable_library(
    collected: Collection[str], errors: Mapping[str, str], repo: Path
) -> str | None:
    """The one-line reason when every file in ``errors`` fails to import the project and
    no file in ``collected`` (test files that collected tests) succeeded; else None."""
    if not errors or collected:
        return None
    missing = {_last_missing(message) for message in errors.values()}
    if len(missing) != 1:
        return None
    (name,) = missing
    if name is None or name not in own_packages(repo):
        return None
    example = sorted(errors)[0]
    return (
        f"the environment cannot import the library: all {len(errors)} test files fail"
        f" with \"No module named '{name}'\" (first: {example}); the spec's install commands"
        " leave the project uninstalled: make them install it (e.g. install = 'pip install"
        " -e .') and run again"
    )


def _last_missing(message: str) -> str | None:
    """The module a collection error could not find: the traceback's last such line."""
    found = _MISSING.findall(message)
    return found[-1] if found else None


def own_packages(repo: Path) -> set[str]:
    """The repository's importable top-level names, its tests and build scripts left out."""
    from orchestrator.extract.leaks import top_level_modules

    names = top_level_modules(repo, _NOT_LIBRARY)
    return {name for name in names if not name.startswith("test") and name not in _SCRIPTS}
