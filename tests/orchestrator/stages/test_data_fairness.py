"""Cases are solvable from their statements: built from a small project with the unfair patterns.

- ``fairlib/__init__.py`` re-exports ``naturalsize`` and lists it in ``__all__``;
- ``naturalsize`` has no docstring and raises exact error messages its tests match;
- ``tests/test_counter.py`` reaches ``bump`` through ``importlib``, which a level 2
  ``agent_code`` cannot provide.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from tests.support.caseutil import checked_out, instance, pytest_in_case
from tests.support.gitrepos import commit_files

SPEC = "SPECS_FAIR"
SIZES = """\
def naturalsize(value):
    if not isinstance(value, (int, float)):
        raise TypeError("sizes must be plain numbers")
    if value < 0:
        raise ValueError(f"cannot format {value!r} as a size")
    for unit in ("B", "kB", "MB"):
        if value < 1000:
            return f"{value:.0f} {unit}"
        value /= 1000
    return f"{value:.0f} GB"
"""
FILES = {
    "pyproject.toml": """\
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "fairlib"
version = "0.1"
""",
    "fairlib/__init__.py": '''\
"""Sizes, counters and words."""

from .counter import bump
from .sizes import naturalsize
from .words import shout

__all__ = ["bump", "naturalsize", "shout"]
''',
    "fairlib/sizes.py": SIZES,
    "fairlib/counter.py": '''\
_COUNTS = {}


def bump(name):
    """Count one more ``name``; the new count."""
    _COUNTS[name] = _COUNTS.get(name, 0) + 1
    return _COUNTS[name]
''',
    "fairlib/words.py": '''\
def shout(text):
    """``text`` in capitals, with an exclamation mark."""
    return text.upper() + "!"
''',
    "tests/test_sizes.py": """\
import pytest

from fairlib import naturalsize


def test_bytes():
    assert naturalsize(300) == "300 B"


def test_kilobytes():
    assert naturalsize(3000) == "3 kB"


def test_negative():
    with pytest.raises(ValueError, match="cannot format -1 as a size"):
        naturalsize(-1)


def test_not_a_number():
    with pytest.raises(TypeError, match="must be plain numbers"):
        naturalsize("3")
""",
    "tests/test_counter.py": """\
import importlib

from fairlib.counter import bump


def test_first():
    assert bump("a") == 1


def test_through_the_module():
    assert importlib.import_module("fairlib.counter").bump("c") == 1
""",
    "tests/test_words.py": """\
from fairlib import shout


def test_shout():
    assert shout("hi") == "HI!"
""",
}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("fair")
    commit_files(work / "fairlib", FILES, "fairlib", 1_650_000_000)
    spec = {
        "repository": str(work / "fairlib"),
        "pip_packages": ["pytest"],
        "test_cmd": ["pytest", "-q", "-p", "no:cacheprovider"],
        "library_name": "fairlib",
    }
    (work / "specs.py").write_text(f"{SPEC} = {spec!r}\n")
    command = ["build-cases", "--config-path", str(work / "specs.py")]
    command += ["--output-dir", str(work / "out"), "--cache-dir", str(work / "cache")]
    result = CliRunner().invoke(cli, command, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return sorted((work / "out").glob("[0-9]*/*"))[-1]


def status(run: Path, file: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads((run / "metadata_outputs" / "data_status.json").read_text())[
        SPEC
    ]["files"][file]
    return found


def case(run: Path, stem: str, level: int) -> Path:
    (found,) = run.glob(f"cases/*/{stem}.*.lv{level}")
    return found


def test_the_statement_lists_the_re_export_the_messages_and_the_tests(run: Path) -> None:
    """Re-export, __all__ entry, both exact messages, and test names and lines for the
    bare function."""
    statement = (case(run, "test_sizes", 1) / "problem_statement.md").read_text()
    assert "def naturalsize(value):" in statement
    assert '"""Exercised by the tests: test_bytes, test_kilobytes, test_negative,' in statement
    # with what it returns and raises, in the tests' own lines (the body stays out)
    assert '        assert naturalsize(300) == "300 B"\n' in statement
    assert (
        '        with pytest.raises(TypeError, match="must be plain numbers"): naturalsize("3")\n'
        in statement
    )
    assert "value /= 1000" not in statement
    assert "# The tests expect this exact text from it: f'cannot format {value!r} as a size'" in (
        statement
    )
    assert "# The tests expect this exact text from it: 'sizes must be plain numbers'" in statement
    assert "# Also restore, in fairlib/__init__.py: from .sizes import naturalsize" in statement
    assert "# Also restore, in fairlib/__init__.py: 'naturalsize' in __all__" in statement
    assert instance(case(run, "test_sizes", 1))["statement_faithful_gold"] == "passed"


def test_level2_statement_leaves_out_where_the_library_exposed_it(run: Path) -> None:
    statement = (case(run, "test_sizes", 2) / "problem_statement.md").read_text()
    assert "# The tests expect this exact text from it: 'sizes must be plain numbers'" in statement
    assert "Also restore" not in statement


def agent_patch(repo: Path, statement: str, with_exposures: bool) -> None:
    """What a careful agent writes from the statement: the function, and what it says to
    restore (an import where the statement quotes one, ``__all__.append`` for an entry)."""
    with (repo / "fairlib" / "sizes.py").open("a") as sizes:
        sizes.write("\n\n" + SIZES)
    if not with_exposures:
        return
    for path, what in re.findall(r"# Also restore, in (\S+): (.+)", statement):
        entry = re.fullmatch(r"'(\w+)' in __all__", what)
        line = f"__all__.append({entry.group(1)!r})" if entry else what
        with (repo / path).open("a") as target:
            target.write(line + "\n")


@pytest.mark.parametrize("with_exposures", [True, False])
def test_an_agent_following_the_statement_resolves_the_case(
    run: Path, tmp_path: Path, with_exposures: bool
) -> None:
    """Written from the statement the case resolves; without the re-export it could not."""
    found = case(run, "test_sizes", 1)
    info = instance(found)
    tree = checked_out(found, tmp_path / "agent", "test_patch.diff")
    agent_patch(tree, (found / "problem_statement.md").read_text(), with_exposures)
    tests = [*info["FAIL_TO_PASS"], *info["PASS_TO_PASS"]]
    code = pytest_in_case(run.parent.parent.parent / "cache", found, tree, tests)
    assert (code == 0) == with_exposures


def test_tests_reaching_the_original_module_get_no_level2_case(run: Path) -> None:
    """test_counter.py imports the original module by name: agent_code cannot pass it."""
    counter = status(run, "tests/test_counter.py")
    assert counter["status"] == "valid", counter
    assert [c for c in counter["cases"] if c.endswith(".lv2")] == []
    assert (
        "no level 2 case: tests/test_counter.py::test_through_the_module fails with the"
        " listed interfaces copied into agent_code and the library masked" in counter["notes"]
    )
    assert case(run, "test_counter", 1).is_dir()


def test_the_faithful_patch_is_graded_in_the_case_environment(run: Path) -> None:
    """The check ran pytest on the case repository with only the listed code restored."""
    logs = list((run / "logs" / "f2p_validate" / SPEC).glob("*test_sizes*.faithful.log"))
    assert logs, sorted(p.name for p in (run / "logs" / "f2p_validate" / SPEC).iterdir())
    assert "7 passed" in logs[0].read_text()  # sizes, counter and words: F2P and P2P
