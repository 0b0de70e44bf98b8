"""A library with one entry point: every test of its test file calls ``render()``, so
grouping the tests by their nearest object gives back the whole file. Built as a small
project whose whole test file is over the line budget while each output style fits:
the split groups, one per style, are the cases.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.caseutil import instance
from tests.support.cli_runs import build_cases
from tests.support.gitrepos import commit_files, setuptools_pyproject

SPEC = "SPECS_ENTRY"
RENDER = "tests/test_render.py"
STYLES = ("grid", "csv", "markdown")
NAMES = ("grid", "grid_empty_cells", "grid_strips", "csv", "csv_quotes_commas", "csv_strips")
NAMES += ("markdown", "markdown_head_only", "markdown_strips")
NAMES += ("grid_multiline", "csv_multiline", "markdown_multiline")
FILES = {
    "pyproject.toml": setuptools_pyproject("tablet"),
    "tablet/__init__.py": "from .core import render\nfrom .words import shout\n",
    "tablet/core.py": '''\
def render(rows, style="csv"):
    """``rows`` (lists of cells) as text in ``style``: grid, csv or markdown."""
    if style not in ("grid", "csv", "markdown"):
        raise ValueError(f"unknown style {style!r}")
    cells = []
    for row in rows:
        cells.append([])
        for cell in row:
            cells[-1].append(str(cell).strip())
    if any("\\n" in cell for row in cells for cell in row):
        cells = _cells_wrap(cells)
    if style == "grid":
        return _grid(cells)
    if style == "markdown":
        return _markdown(cells)
    return _csv(cells)


def _cells_wrap(cells):
    return [[cell.replace("\\n", " / ") for cell in row] for row in cells]


def _grid(cells):
    width = max((len(c) for row in cells for c in row), default=0)
    line = "+" + "+".join("-" * width for _ in cells[0]) + "+"
    body = ["|" + "|".join(c.ljust(width) for c in row) + "|" for row in cells]
    return "\\n".join([line, *body, line])


def _csv(cells):
    quoted = [[f'"{c}"' if "," in c else c for c in row] for row in cells]
    return "\\n".join(",".join(row) for row in quoted)


def _markdown(cells):
    head, *rest = cells
    rule = "|".join("---" for _ in head)
    return "\\n".join("|".join(row) for row in [head, [rule], *rest])
''',
    "tablet/words.py": '''\
def shout(text):
    """``text`` in capitals, with an exclamation mark."""
    return text.upper() + "!"
''',
    RENDER: """\
from tablet import render


def test_grid():
    assert render([[1, 22]], "grid") == "+--+--+\\n|1 |22|\\n+--+--+"


def test_grid_empty_cells():
    assert render([["", ""]], "grid") == "+++\\n|||\\n+++"


def test_grid_strips():
    assert render([[" a "]], "grid") == "+-+\\n|a|\\n+-+"


def test_csv():
    assert render([[1, 2], [3, 4]]) == "1,2\\n3,4"


def test_csv_quotes_commas():
    assert render([["a,b", "c"]]) == '"a,b",c'


def test_csv_strips():
    assert render([[" x "]], "csv") == "x"


def test_markdown():
    assert render([["a", "b"], [1, 2]], "markdown") == "a|b\\n---|---\\n1|2"


def test_markdown_head_only():
    assert render([["a"]], "markdown") == "a\\n---"


def test_markdown_strips():
    assert render([[" h "], [" v "]], "markdown") == "h\\n---\\nv"


def test_grid_multiline():
    assert render([["a\\nb"]], "grid") == "+-----+\\n|a / b|\\n+-----+"


def test_csv_multiline():
    assert render([["a\\nb", "c"]]) == "a / b,c"


def test_markdown_multiline():
    assert render([["h"], ["a\\nb"]], "markdown") == "h\\n---\\na / b"
""",
    "tests/test_words.py": """\
from tablet import shout


def test_shout():
    assert shout("hi") == "HI!"


def test_empty():
    assert shout("") == "!"


def test_twice():
    assert shout(shout("a")) == "A!!"
""",
}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("entry")
    commit_files(work / "tablet", FILES, "tablet", 1_650_000_000)
    spec = {
        "repository": str(work / "tablet"),
        "pip_packages": ["pytest"],
        "test_cmd": ["pytest", "-q", "-p", "no:cacheprovider"],
        "min_test_num": 3,
        # render is over it (so the whole file is); any one style is within it
        "max_code_line_lower_bound": 9,
        "max_code_line_upper_bound": 9,
    }
    return build_cases(work, SPEC, spec)


def files_status(run: Path) -> dict[str, Any]:
    status: dict[str, Any] = json.loads((run / "metadata_outputs" / "data_status.json").read_text())
    return status[SPEC]["files"]


def test_the_tests_of_one_entry_point_split_by_what_they_exercise(run: Path) -> None:
    """One valid unit per style and one for multi-line cells, named after the entry point
    and the function. A style's multi-line test went to the multi-line group, and the
    style's group is widened by the style's function (not by render(), which would
    widen it to the whole file)."""
    files = files_status(run)
    for unit in ("render--_grid-wide", "render--_csv-wide", "render--_markdown-wide"):
        assert files[f"{RENDER}::{unit}"]["status"] == "valid", files
        assert files[f"{RENDER}::{unit}"]["unit"] == unit
    assert files[f"{RENDER}::render--_cells_wrap"]["status"] == "valid", files


def test_each_style_case_fails_its_own_tests_and_keeps_the_others(run: Path) -> None:
    for style in STYLES:
        (found,) = run.glob(f"cases/*/test_render.render--_{style}-wide.*.lv1")
        info = instance(found)
        mine = sorted(f"{RENDER}::test_{name}" for name in NAMES if name.startswith(style))
        assert sorted(info["FAIL_TO_PASS"]) == mine
        assert info["functions"] == [f"tablet/core.py::_{style}"]
        others = [t for t in info["PASS_TO_PASS"] if t.startswith(RENDER)]
        assert len(others) == len(NAMES) - len(mine)
