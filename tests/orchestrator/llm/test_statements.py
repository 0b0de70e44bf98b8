"""Task statements the model writes are checked, asked again once, else left offline."""

from __future__ import annotations

import ast
from pathlib import Path

from orchestrator.extract.masking import Target
from orchestrator.llm.cases import task_statement, with_docstrings
from orchestrator.llm.client import CHARS_PER_TOKEN
from orchestrator.llm.statements import interface_names, known_names, problems
from tests.orchestrator.feature_project import FILES
from tests.orchestrator.llm.conftest import client
from tests.support.llm_server import Reply, Server
from tests.support.llm_server import task_statement as good_statement

TARGETS = [Target("geom/shapes.py", "Polygon.__init__"), Target("geom/shapes.py", "Polygon.area")]
STUBS = ["class Polygon(Shape):\n    def __init__(self, points): ...\n    def area(self): ..."]
NAMES = interface_names(TARGETS)
KNOWN = known_names(FILES, STUBS)
FILLER = " It keeps the documented behaviour for ordinary inputs and edge cases alike." * 4


def check(text: str) -> list[str]:
    return problems(text, NAMES, KNOWN)


def test_a_constructor_is_named_by_its_class() -> None:
    """``Polygon.__init__`` asks the statement to name ``Polygon``, ``Polygon.area`` ``area``."""
    assert NAMES == ["Polygon", "area"]


def test_a_good_statement_passes() -> None:
    """Two paragraphs naming every interface and only real names have no problem."""
    assert check(good_statement(NAMES)) == []


def test_an_omitted_interface_is_found() -> None:
    """A statement about ``Polygon`` alone misses ``area``."""
    text = f"The `Polygon` class holds vertices.{FILLER}\n\nIt is tested.{FILLER}"
    assert check(text) == ["it does not name area: name every interface listed"]


def test_invented_names_are_found_but_real_ones_and_prose_are_not() -> None:
    """``add`` and ``PolygonError`` exist nowhere; ``math.dist``, ``ValueError``, e.g. do."""
    text = (
        f"The `Polygon` class and its `area`, `add()` and PolygonError, e.g. via"
        f" math.dist and ValueError.{FILLER}\n\nMore.{FILLER}"
    )
    (found,) = check(text)
    assert found.startswith("it names PolygonError, add, found neither in the library")


def test_headings_paragraphs_and_length_are_checked() -> None:
    """A heading, one paragraph and too few words are three problems."""
    found = check("# Polygon\nThe `Polygon` `area`.")
    assert found == [
        "it has headings or code blocks: write plain paragraphs",
        "it has 1 paragraphs: write 2 to 4",
        "it has 5 words: write 40 to 600",
    ]


def test_a_rejected_statement_is_asked_again_saying_why(server: Server, tmp_path: Path) -> None:
    """The second request says what was wrong; its good answer is used."""
    bad = f"The `Polygon` class.{FILLER}\n\nIt is tested.{FILLER}"
    server.script.extend([Reply(content=bad), Reply(content=good_statement(NAMES))])
    llm = client(server, tmp_path)
    made = task_statement(llm, "geom", STUBS, "tests/test_polygon.py", "import geom\n", check)
    assert made.text == good_statement(NAMES)
    assert made.rejected is None
    second = server.completions()[1]["body"]["messages"][-1]["content"]
    assert "Your previous statement could not be used: it does not name area" in second


def test_rejected_twice_leaves_the_offline_statement_and_why(
    server: Server, tmp_path: Path
) -> None:
    """A model that invents a name twice gets no statement into the case."""
    bad = f"The `Polygon` class and its `area` and `add`.{FILLER}\n\nIt is tested.{FILLER}"
    server.script.extend([Reply(content=bad)] * 2)
    llm = client(server, tmp_path)
    made = task_statement(llm, "geom", STUBS, "tests/test_polygon.py", "import geom\n", check)
    assert made.text == ""
    assert made.rejected is not None
    assert made.rejected.startswith("the statement was rejected twice: it names add")


def test_the_statement_prompt_fits_the_budget_with_a_large_test_file(
    server: Server, tmp_path: Path
) -> None:
    """A 60k-character test file is cut so that both requests fit 1500 tokens; stubs stay whole."""
    bad = f"The `Polygon` class.{FILLER}\n\nIt is tested.{FILLER}"
    server.script.extend([Reply(content=bad)] * 2)
    llm = client(server, tmp_path, max_prompt_tokens=1500)
    source = "def test_x():\n    assert True\n" * 2000
    task_statement(llm, "geom", STUBS, "tests/test_polygon.py", source, check)
    for request in server.completions():
        messages = request["body"]["messages"]
        assert sum(len(m["content"]) for m in messages) <= 1500 * CHARS_PER_TOKEN
        assert STUBS[0] in messages[1]["content"]


DECORATED = """import functools


class Labeled:
    def decorator(self, func):
        @functools.wraps(func)
        def inner(*args):
            return func(*args)
        return inner
"""


def test_a_docstring_goes_above_a_decorated_first_statement(server: Server, tmp_path: Path) -> None:
    """A body that opens with a decorated function gets its docstring before the decorator;
    a backslash in the reply (\\N is a syntax error in a string) reads back as written."""
    server.script.extend([Reply(content="Wrap func."), Reply(content="Bad \\N or \\d.")])
    llm = client(server, tmp_path)
    target = Target("lib/labeled.py", "Labeled.decorator")
    source, written = with_docstrings(llm, "lib", DECORATED, target)
    assert written == {"Labeled.decorator": "Wrap func."}
    assert '        """Wrap func.\n        """\n        @functools.wraps(func)' in source
    compile(source, "labeled.py", "exec")
    again, written = with_docstrings(llm, "lib", DECORATED, target, cached=False)
    assert written == {"Labeled.decorator": "Bad \\N or \\d."}
    method = ast.parse(again).body[1].body[0]  # type: ignore[attr-defined]
    assert (ast.get_docstring(method) or "").strip() == "Bad \\N or \\d."


def test_the_docstring_prompt_fits_the_budget_with_a_long_function(
    server: Server, tmp_path: Path
) -> None:
    """A class of 30k characters without docstrings: each docstring prompt fits 1500 tokens,
    and the docstrings go into the source the stub is made from."""
    body = "".join(f"        total += {i}\n" for i in range(1500))
    source = f"class Big:\n    def total(self):\n        total = 0\n{body}        return total\n"
    assert len(source) > 1500 * CHARS_PER_TOKEN * 5
    llm = client(server, tmp_path, max_prompt_tokens=1500)
    written, docstrings = with_docstrings(llm, "geom", source, Target("geom/big.py", "Big"))
    assert set(docstrings) == {"Big", "Big.total"}
    assert len(server.completions()) == 2
    for request in server.completions():
        messages = request["body"]["messages"]
        assert sum(len(m["content"]) for m in messages) <= 1500 * CHARS_PER_TOKEN
    assert written.count('"""') == 4
