"""``fbench trace show`` and the ``fbench`` entry point, on records of real traced runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator import __version__
from orchestrator.cli import cli
from tests.conftest import Inner

LIBRARY = """\
class Stack:
    def __init__(self):
        self.items = []

    def push(self, item):
        self.items.append(item)
        return self

    def peek(self):
        return self.items[-1]


def build(*items):
    stack = Stack()
    for item in items:
        stack.push(item)
    return stack
"""

TESTS = """\
from lib import Stack, build


def test_push():
    assert Stack().push(1).peek() == 1


def test_build():
    assert build(1, 2).peek() == 2


def test_untouched():
    assert True
"""


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Records of a traced run split over two xdist workers."""
    project = tmp_path_factory.mktemp("stack")
    (project / "lib.py").write_text(LIBRARY)
    (project / "test_stack.py").write_text(TESTS)
    done = Inner(Path(sys.executable), "profile").trace(project, "-p", "xdist", "-n", "2")
    assert done.result.returncode == 0, done.result.stdout
    return [project / "records.jsonl"]


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_show_lists_each_test_with_its_functions(records: list[Path]) -> None:
    """The default view prints every test, its outcome and the functions it reaches."""
    code, out = invoke("trace", "show", *map(str, records))
    assert code == 0
    assert "test_stack.py::test_push  passed  (3 functions)" in out
    assert "    1  lib.py::Stack.push:5" in out
    assert "    2  lib.py::Stack.__init__:2" in out
    assert "test_stack.py::test_untouched  passed  (0 functions)" in out


def test_function_lists_the_tests_that_reach_it(records: list[Path]) -> None:
    """``--function`` takes a qualname and lists callers with their depths, shallowest first."""
    code, out = invoke("trace", "show", str(records[0]), "--function", "Stack.push")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("depth  test")
    assert lines[1] == "lib.py::Stack.push:5  reached by 2 tests"
    assert lines[2:] == ["    1  test_stack.py::test_push", "    2  test_stack.py::test_build"]


def test_json_gives_the_same_as_data(records: list[Path]) -> None:
    """``--json`` carries the same facts with named fields."""
    code, out = invoke("trace", "show", str(records[0]), "--function", "build", "--json")
    assert code == 0
    (entry,) = json.loads(out)
    assert (entry["path"], entry["qualname"], entry["line"]) == ("lib.py", "build", 13)
    assert entry["tests"] == [{"nodeid": "test_stack.py::test_build", "depth": 1}]
    code, out = invoke(
        "trace", "show", str(records[0]), "--test", "test_stack.py::test_build", "--json"
    )
    (test,) = json.loads(out)
    assert {c["qualname"]: c["depth"] for c in test["calls"]} == {
        "build": 1,
        "Stack.__init__": 2,
        "Stack.push": 2,
        "Stack.peek": 1,
    }


def test_records_from_several_files_are_merged(records: list[Path], tmp_path: Path) -> None:
    """Several records files (one per worker, say) read as one."""
    lines = records[0].read_text().splitlines(keepends=True)
    half = len(lines) // 2
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_text("".join(lines[:half]))
    second.write_text("".join(lines[half:]))
    _, merged = invoke("trace", "show", str(first), str(second))
    _, whole = invoke("trace", "show", str(records[0]))
    assert merged == whole


def test_records_without_traces_are_an_error_not_empty_lists(tmp_path: Path) -> None:
    """Records of a run without --fb-trace: trace show says so and exits 2."""
    (tmp_path / "lib.py").write_text(LIBRARY)
    (tmp_path / "test_stack.py").write_text(TESTS)
    done = Inner(Path(sys.executable), "profile").run(tmp_path)
    assert done.result.returncode == 0, done.result.stdout
    code, out = invoke("trace", "show", str(tmp_path / "records.jsonl"))
    assert code == 2
    assert "no traces in these records (written without --fb-trace)" in out
    assert "(0 functions)" not in out


def test_the_depth_column_is_labelled(records: list[Path]) -> None:
    _, out = invoke("trace", "show", str(records[0]))
    assert out.splitlines()[0] == "depth  function (depth 1: called by the test itself)"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--test", "test_stack.py::test_pus"],
            "no traced test 'test_stack.py::test_pus'; did you mean test_stack.py::test_push?",
        ),
        (["--function", "pop"], "no traced test reaches a function named 'pop'"),
    ],
)
def test_unknown_names_are_errors(records: list[Path], args: list[str], message: str) -> None:
    """An unknown test or function is a one-line error with exit status 2."""
    code, out = invoke("trace", "show", str(records[0]), *args)
    assert code == 2
    assert out.strip() == f"fbench: error: {message}"


def test_the_installed_command_reports_errors_in_one_line(tmp_path: Path) -> None:
    """The real ``fbench`` executable: version, and a bad records file without a traceback."""
    fbench = Path(sys.executable).parent / "fbench"
    done = subprocess.run([fbench, "--version"], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == f"fbench, version {__version__}"
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"type": "mystery"}\n')
    done = subprocess.run(
        [fbench, "trace", "show", str(bad)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2
    assert done.stderr.startswith(f"fbench: error: {bad}:1: not a featurebench record")
    assert "Traceback" not in done.stderr
