"""One rule for "a library module collected for its doctests", in the scanner and in eval.

The project collects with ``--doctest-modules --doctest-glob=*.md`` and has:

- ``geo/__init__.py``, a package module whose module docstring is a doctest
  (``geo/__init__.py::geo``, no dot in the name): library code, graded where it lives;
- ``README.md``, a Markdown doctest: a test file, restored;
- ``geo/shape_checks.py``, tests beside the package (``python_files``) whose
  parametrised ids name data files after the module (``[shape_checks.json]``): a test
  file, restored, however much its ids look like a doctest's dotted names;
- ``tests/test_double.py``, an ordinary test file, restored.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from orchestrator.grading.eval_inputs import load_cases
from orchestrator.grading.harness import eval_script
from orchestrator.pipeline.doctests import doctest_modules
from tests.orchestrator.stages.test_scanner_addopts import FILES as GEO
from tests.support.caseutil import instance
from tests.support.cli_runs import build_project, edit, evaluate

SPEC = "SPECS_DOCTESTS"
FILES = {
    "pyproject.toml": GEO["pyproject.toml"],
    "pytest.ini": (
        "[pytest]\naddopts = --doctest-modules --doctest-glob=*.md\n"
        "python_files = test_*.py *_checks.py\n"
    ),
    "geo/__init__.py": '''\
"""Small geometry.

>>> import geo
>>> geo.NAME
'geo'
"""
from .shapes import area, perimeter

NAME = "geo"


def double(x):
    """Twice x.

    >>> double(2)
    4
    """
    return x * 2


def triple(x):
    """Three times x.

    >>> triple(2)
    6
    """
    return x * 3
''',
    "geo/shapes.py": GEO["geo/shapes.py"],
    "geo/shape_checks.py": """\
import pytest

from geo import double


@pytest.mark.parametrize("name", ["shape_checks.json", "shape_checks.toml"])
def test_name_length(name):
    assert double(len(name)) == 2 * len(name)
""",
    "README.md": "# geo\n\n```\n>>> from geo import double\n>>> double(3)\n6\n\n```\n",
    "tests/test_shapes.py": GEO["tests/test_shapes.py"],
    "tests/test_double.py": """\
from geo import double, triple


def test_double():
    assert double(1) == 2


def test_triple():
    assert triple(1) == 3
""",
}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("doctests")
    return build_project(work, SPEC, FILES)


@pytest.fixture(scope="module")
def case(run: Path) -> Path:
    (found,) = run.glob("cases/*/test_shapes.*.lv1")
    return found


def metadata(run: Path, name: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads((run / "metadata_outputs" / name).read_text())[SPEC]
    return found


def graded(run: Path, case: Path, path: str, old: str, new: str, name: str) -> int:
    """How many instances resolve with the gold patch plus an edit of ``path``."""
    gold = (case / "patch.diff").read_text()
    patch = gold + edit(case, path, old, new)
    resolved: int = evaluate(run, case, patch, name, run.parents[2] / "cache")["resolved_instances"]
    return resolved


def restored_by_script(case: Path) -> str:
    """The SWE-bench eval script's lines that delete and put back files."""
    (loaded,) = [c for c in load_cases(case.parents[2]).values() if c.path == case]
    info = instance(case)
    script = eval_script(loaded, (case / "test_patch.diff").read_text(), info["PASS_TO_PASS"])
    lines = [line for line in script.splitlines() if line.startswith(("rm -f ", "git checkout"))]
    return "\n".join(lines[:2])


def test_a_package_module_with_a_module_doctest_is_graded_as_the_agent_left_it(
    run: Path, case: Path
) -> None:
    """``geo/__init__.py::geo`` has no dot: the old scanner took the module for a test
    file (a fail-to-pass candidate) while eval took it for a doctest module."""
    files = metadata(run, "files_status.json")["files"]
    assert files["geo/__init__.py"].get("doctest_module") is True, files["geo/__init__.py"]
    assert not files["geo/__init__.py"]["f2p_candidate"]
    assert "geo/__init__.py" not in metadata(run, "data_status.json")["files"]
    assert "geo/__init__.py::geo" in instance(case)["PASS_TO_PASS"]
    assert "geo/__init__.py" not in restored_by_script(case)
    assert graded(run, case, "geo/__init__.py", 'NAME = "geo"', 'NAME = "sums"', "init") == 0


def test_a_markdown_doctest_is_a_test_file_put_back(run: Path, case: Path) -> None:
    files = metadata(run, "files_status.json")["files"]
    assert "doctest_module" not in files["README.md"]
    assert "README.md::README.md" in instance(case)["PASS_TO_PASS"]
    assert "README.md" in restored_by_script(case)
    assert graded(run, case, "README.md", "6\n", "7\n", "readme") == 1


def test_test_files_are_put_back_however_their_ids_read(run: Path, case: Path) -> None:
    """The old eval rule took ``test_name_length[shape_checks.json]`` for a doctest of
    ``shape_checks``, and graded the agent's edit of the test file."""
    p2p = instance(case)["PASS_TO_PASS"]
    assert "geo/shape_checks.py::test_name_length[shape_checks.json]" in p2p
    assert "tests/test_double.py::test_double" in p2p
    script = restored_by_script(case)
    assert "geo/shape_checks.py" in script
    assert "tests/test_double.py" in script
    broken = ("== 2 * len(name)", "== 3 * len(name)")
    assert graded(run, case, "geo/shape_checks.py", *broken, "checks") == 1
    assert graded(run, case, "tests/test_double.py", "== 2", "== 5", "double") == 1


@pytest.mark.parametrize(
    ("nodeids", "modules"),
    [
        (["calc/__init__.py::calc", "calc/__init__.py::calc.double"], {"calc/__init__.py"}),
        (["humanize.py::humanize"], {"humanize.py"}),  # a single-module library
        (["src/calc/shapes.py::calc.shapes.area"], {"src/calc/shapes.py"}),  # src layout
        (["src/calc/shapes.py::src.calc.shapes.Box.size"], {"src/calc/shapes.py"}),
        (["calc/checks.py::test_load[checks.json]"], set()),
        (["calc/checks.py::TestLoad::test_one", "calc/checks.py::calc.checks"], set()),
        (["calc/shapes.py::calc.shapes.area", "calc/shapes.py::test_area"], set()),
        (["tests/helpers.py::tests.helpers.make"], set()),  # under tests/: a test file
        (["README.md::README.md", "docs/usage.rst::usage.rst"], set()),
        (["calc/other.py::calc.shapes.area"], set()),  # named after another module
        (["docs/v1.2/calc.py::v1_2.calc.area"], {"docs/v1.2/calc.py"}),  # importlib mode
    ],
)
def test_the_rule(nodeids: list[str], modules: set[str]) -> None:
    assert doctest_modules(nodeids) == modules
