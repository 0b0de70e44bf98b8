"""One rule for "a library module collected for its doctests", in the scanner and in eval.

The project collects with ``--doctest-modules --doctest-glob=*.md`` and has:

- ``calc/__init__.py``, a package module whose module docstring is a doctest
  (``calc/__init__.py::calc``, no dot in the name): library code, graded where it lives;
- ``README.md``, a Markdown doctest: a test file, restored;
- ``calc/shape_checks.py``, tests beside the package (``python_files``) whose
  parametrised ids name data files after the module (``[shape_checks.json]``): a test
  file, restored, however much its ids look like a doctest's dotted names;
- ``tests/test_double.py``, an ordinary test file, restored.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from orchestrator.grading.eval_inputs import load_cases
from orchestrator.grading.harness import eval_script
from orchestrator.pipeline.doctests import doctest_modules
from tests.support.caseutil import instance
from tests.support.gitrepos import commit_files, setuptools_pyproject
from tests.support.predictions import edit, evaluate

SPEC = "SPECS_CALC"
FILES = {
    "pyproject.toml": setuptools_pyproject("calc"),
    "pytest.ini": (
        "[pytest]\naddopts = --doctest-modules --doctest-glob=*.md\n"
        "python_files = test_*.py *_checks.py\n"
    ),
    "calc/__init__.py": '''\
"""Small sums.

>>> import calc
>>> calc.NAME
'calc'
"""
from .shapes import area, perimeter

NAME = "calc"


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
    "calc/shapes.py": '''\
def area(width, height):
    """The area of a width by height rectangle."""
    if width < 0 or height < 0:
        raise ValueError("negative side")
    product = width * height
    return product


def perimeter(width, height):
    """The length around a width by height rectangle."""
    total = width + height
    return 2 * total
''',
    "calc/shape_checks.py": """\
import pytest

from calc import double


@pytest.mark.parametrize("name", ["shape_checks.json", "shape_checks.toml"])
def test_name_length(name):
    assert double(len(name)) == 2 * len(name)
""",
    "README.md": "# calc\n\n```\n>>> from calc import double\n>>> double(3)\n6\n\n```\n",
    "tests/test_shapes.py": """\
import pytest

from calc import area, perimeter


def test_area():
    assert area(2, 3) == 6


def test_area_square():
    assert area(4, 4) == 16


def test_area_negative():
    with pytest.raises(ValueError):
        area(-1, 2)


def test_perimeter():
    assert perimeter(2, 3) == 10
""",
    "tests/test_double.py": """\
from calc import double, triple


def test_double():
    assert double(1) == 2


def test_triple():
    assert triple(1) == 3
""",
}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("doctests")
    commit_files(work / "calc", FILES, "calc", 1_700_000_000)
    spec = {
        "repository": str(work / "calc"),
        "pip_packages": ["pytest"],
        "min_test_num": 3,
        "max_code_line_lower_bound": 2,
        "max_code_line_upper_bound": 20,
        "stability_runs": 0,
    }
    (work / "specs.py").write_text(f"{SPEC} = {spec!r}\n")
    command = ["build-cases", "--config-path", str(work / "specs.py")]
    command += ["--output-dir", str(work / "out"), "--cache-dir", str(work / "cache")]
    result = CliRunner().invoke(cli, command, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return Path(result.stdout.strip().splitlines()[-1])


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
    """``calc/__init__.py::calc`` has no dot: the old scanner took the module for a test
    file (a fail-to-pass candidate) while eval took it for a doctest module."""
    files = metadata(run, "files_status.json")["files"]
    assert files["calc/__init__.py"].get("doctest_module") is True, files["calc/__init__.py"]
    assert not files["calc/__init__.py"]["f2p_candidate"]
    assert "calc/__init__.py" not in metadata(run, "data_status.json")["files"]
    assert "calc/__init__.py::calc" in instance(case)["PASS_TO_PASS"]
    assert "calc/__init__.py" not in restored_by_script(case)
    assert graded(run, case, "calc/__init__.py", 'NAME = "calc"', 'NAME = "sums"', "init") == 0


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
    assert "calc/shape_checks.py::test_name_length[shape_checks.json]" in p2p
    assert "tests/test_double.py::test_double" in p2p
    script = restored_by_script(case)
    assert "calc/shape_checks.py" in script
    assert "tests/test_double.py" in script
    broken = ("== 2 * len(name)", "== 3 * len(name)")
    assert graded(run, case, "calc/shape_checks.py", *broken, "checks") == 1
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
    ],
)
def test_the_rule(nodeids: list[str], modules: set[str]) -> None:
    assert doctest_modules(nodeids) == modules
