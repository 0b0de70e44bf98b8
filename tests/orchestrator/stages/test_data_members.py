"""A class stub shows the private members and names the instance attributes that code
outside the class uses: built from a small project whose tests use both.

- ``HTMLStr._repr_html_`` is private, and the tests call it (Jupyter's protocol);
- ``Table`` sets ``rows`` and ``_cells`` in ``__init__``, and the tests read both;
- ``Table._row_html`` is private and only ``Table`` uses it: the stub leaves it out.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.caseutil import instance
from tests.support.cli_runs import build_cases
from tests.support.gitrepos import commit_files, setuptools_pyproject
from tests.support.llm_server import MODEL, serve

SPEC = "SPECS_MEMBERS"
KEY_VARIABLE = "FB_MEMBERS_LLM_KEY"
FILES = {
    "pyproject.toml": setuptools_pyproject("htmlish"),
    "htmlish/__init__.py": "from .table import HTMLStr, Table\nfrom .words import shout\n",
    "htmlish/table.py": '''\
class HTMLStr(str):
    """A string that Jupyter shows as HTML."""

    def _repr_html_(self):
        return self

    @property
    def str(self):  # no docstring: in LLM mode the model writes one into the stub
        return str.__str__(self)


class Table:
    """Rows of cells, shown as an HTML table."""

    def __init__(self, rows):
        self.rows = [list(row) for row in rows]
        self._cells = sum(len(row) for row in self.rows)

    def _row_html(self, row):
        return "<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>"

    def html(self):
        """The table as an HTMLStr."""
        return HTMLStr("<table>" + "".join(map(self._row_html, self.rows)) + "</table>")
''',
    "htmlish/words.py": '''\
def shout(text):
    """``text`` in capitals, with an exclamation mark."""
    return text.upper() + "!"
''',
    "tests/test_table.py": """\
from htmlish import HTMLStr, Table


def test_html():
    assert Table([[1, 2]]).html() == "<table><tr><td>1</td><td>2</td></tr></table>"


def test_jupyter_shows_it():
    shown = Table([[1]]).html()
    assert hasattr(shown, "_repr_html_")
    assert shown._repr_html_() == shown.str


def test_rows_and_cells():
    table = Table([(1, 2), (3,)])
    assert table.rows == [[1, 2], [3]]
    assert table._cells == 3


def test_plain():
    assert HTMLStr("<b>").str == "<b>"
""",
    "tests/test_words.py": """\
from htmlish import shout


def test_shout():
    assert shout("hi") == "HI!"


def test_empty():
    assert shout("") == "!"


def test_twice():
    assert shout(shout("a")) == "A!!"
""",
}


@pytest.fixture(scope="module", params=["offline", "llm"])
def statement(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, Path]:
    """The test_table case's statement, offline, and with the model writing the task
    statement and docstrings (its stubs must show the same members)."""
    work = tmp_path_factory.mktemp("members")
    commit_files(work / "htmlish", FILES, "htmlish", 1_650_000_000)
    spec = {
        "repository": str(work / "htmlish"),
        "pip_packages": ["pytest"],
        "test_cmd": ["pytest", "-q", "-p", "no:cacheprovider"],
        "library_name": "htmlish",
        "min_test_num": 3,
        "llm_prompt_for_case": request.param == "llm",
    }
    with serve() as server:
        config = work / "config.toml"
        config.write_text(
            f'[llm]\nbase_url = "{server.url}"\nmodel = "{MODEL}"\napi_key_env = "{KEY_VARIABLE}"\n'
        )
        llm = ["--global-config-path", str(config)] if request.param == "llm" else []
        run = build_cases(work, SPEC, spec, *llm, env={KEY_VARIABLE: "members-test-key"})
    (case,) = run.glob("cases/*/test_table.*.lv1")
    return (case / "problem_statement.md").read_text(), case


def test_the_stub_shows_the_private_member_the_tests_call(statement: tuple[str, Path]) -> None:
    text, case = statement
    assert "class HTMLStr(str):" in text
    assert "    def _repr_html_(self):\n        ...\n" in text
    assert "_row_html" not in text  # only Table itself uses it: how it works, not what it is
    assert instance(case)["statement_faithful_gold"] == "passed"


def test_the_statement_names_the_attributes_the_tests_read(statement: tuple[str, Path]) -> None:
    text, _ = statement
    note = "# Its instances have these attributes, which other code reads: _cells, rows"
    assert note in text
