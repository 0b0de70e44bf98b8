"""What a statement lists, and the patch rebuilt from it alone."""

from __future__ import annotations

from orchestrator.extract.fairness import (
    faithful_files,
    observable_strings,
    statement_listing,
    stub_notes,
)
from orchestrator.extract.masking import Target, mask
from orchestrator.pipeline.traces import TestTrace

FILES = {
    "pkg/__init__.py": "from .sizes import naturalsize, other\n\n__all__ = ['naturalsize', 'other']\n",
    "pkg/sizes.py": (
        "def naturalsize(value):\n"
        "    if value < 0:\n"
        "        raise ValueError('negative sizes have no name: %r' % value)\n"
        "    return f'{value} B'\n"
        "\n\n"
        "def other():\n"
        "    return 'negative sizes are rare'\n"
    ),
    "tests/conftest.py": "from pkg import naturalsize\n",  # a test file: eval restores it
    "tests/test_sizes.py": (
        "import pytest\nfrom pkg import naturalsize\n\n\n"
        "def test_negative():\n"
        "    with pytest.raises(ValueError, match='sizes have no name: -1'):\n"
        "        naturalsize(-1)\n"
        "    assert naturalsize(1) == '1 B'\n"
    ),
}
TARGET = Target("pkg/sizes.py", "naturalsize")


def library(masked: dict[str, str]) -> dict[str, str]:
    """The masked files of the case repository: the F2P test file is not in it."""
    return {path: text for path, text in masked.items() if not path.startswith("tests/")}


def test_the_listing_covers_the_re_export_and_the_all_entry() -> None:
    """Library files only: the conftest's import is not the agent's to restore."""
    masked = mask(FILES, [TARGET])
    listing = statement_listing(FILES, masked, [TARGET], [], "tests/test_sizes.py", {})
    assert listing.exposures[TARGET] == [
        "# Also restore, in pkg/__init__.py: from .sizes import naturalsize",
        "# Also restore, in pkg/__init__.py: 'naturalsize' in __all__",
    ]
    assert listing.covered["pkg/__init__.py"] == {1, 3}
    assert listing.strings[TARGET] == ["'negative sizes have no name: %r'"]
    rebuilt, unlisted = faithful_files(FILES, library(masked.files), listing.covered)
    assert unlisted == []
    assert rebuilt["pkg/__init__.py"] == FILES["pkg/__init__.py"]


def test_what_the_listing_does_not_cover_stays_masked_and_is_named() -> None:
    masked = mask(FILES, [TARGET])
    covered = {"pkg/sizes.py": set(range(1, 5))}  # the definition, not the re-export
    rebuilt, unlisted = faithful_files(FILES, library(masked.files), covered)
    assert rebuilt["pkg/__init__.py"] == masked.files["pkg/__init__.py"]
    assert rebuilt["pkg/sizes.py"] == FILES["pkg/sizes.py"]
    assert unlisted[0] == "pkg/__init__.py:1: from .sizes import naturalsize, other"


def test_a_string_kept_code_also_holds_is_not_the_removed_codes() -> None:
    """A message other() also produces is not listed; with other() gone it would be."""
    files = {
        **FILES,
        "pkg/sizes.py": FILES["pkg/sizes.py"].replace("are rare", "have no name: none"),
    }
    masked = mask(files, [TARGET])
    test = files["tests/test_sizes.py"]
    assert observable_strings(test, masked, [TARGET], [masked.files["pkg/sizes.py"]]) == {}
    assert observable_strings(test, masked, [TARGET], []) == {
        TARGET: ["'negative sizes have no name: %r'"]
    }


def test_a_message_the_tests_see_formatted_is_listed_by_its_template() -> None:
    """The test asserts the filled-in text; the template shares too little of it as one run
    of text, but its placeholders filled give the text, so it is listed; unless kept code
    holds the template, where the agent can read it."""
    sources = {
        "pkg/log.py": (
            "def log_calls(result, signature, out):\n"
            "    out.append('-> %s from %s' % (result, signature))\n"
            "    out.append(f'called {signature} once')\n"
        ),
        "tests/test_log.py": (
            "def test_log():\n    assert log == ['-> 3 from f(1, 2)', 'called f(1, 2) once']\n"
        ),
    }
    target = Target("pkg/log.py", "log_calls")
    masked = mask(sources, [target])
    test = sources["tests/test_log.py"]
    kept = ["from os import path\n"]  # "from", the longest fixed run, is everywhere
    found = observable_strings(test, masked, [target], kept)
    assert sorted(found[target]) == ["'-> %s from %s'", "f'called {signature} once'"]
    kept.append("def log_exits(r, s, out):\n    out.append('-> %s from %s' % (r, s))\n")
    assert observable_strings(test, masked, [target], kept) == {
        target: ["f'called {signature} once'"]
    }


SECTIONS = {
    "pkg/__init__.py": "",
    "pkg/doc.py": (
        "def sections(text):\n"
        '    """Split ``text`` at its ``usage:`` line: before, header, body."""\n'
        "    head, _, rest = text.partition('usage:')\n"
        "    return head, 'usage:', rest.strip()\n"
        "\n\n"
        "def shown(text):\n"
        '    """``text`` in brackets.\n\n    >>> shown("a")\n    \'[a]\'\n    """\n'
        "    return '[' + text + ']'\n"
    ),
    "tests/test_doc.py": (
        "from pkg.doc import sections, shown\n\n\n"
        "def test_a_lint():\n"
        "    assert sections('usage:')[2] == ''\n\n\n"
        "def test_sections():\n"
        "    assert sections('x usage: p') == ('x ', 'usage:', 'p')\n\n\n"
        "def test_shown():\n"
        "    assert shown('b') == '[b]'\n"
    ),
}


def test_a_documented_interface_without_an_example_gets_the_tests_lines() -> None:
    """The docstring says what ``sections`` does; the test pins how. ``shown``'s docstring
    has its own example, and is left alone."""
    targets = [Target("pkg/doc.py", "sections"), Target("pkg/doc.py", "shown")]
    masked = mask(SECTIONS, targets)
    tests = {
        f"tests/test_doc.py::test_{name}": TestTrace("passed", [["pkg/doc.py", called, 1, 1]])
        for name, called in (("a_lint", "sections"), ("sections", "sections"), ("shown", "shown"))
    }
    listing = statement_listing(SECTIONS, masked, targets, [], "tests/test_doc.py", tests)
    assert listing.exercised == {}  # both have docstrings: no test names stand in for them
    assert stub_notes(listing, targets[0])[-3:] == [  # the test named after it first
        "# The tests use it so:",
        "#     assert sections('x usage: p') == ('x ', 'usage:', 'p')",
        "#     assert sections('usage:')[2] == ''",
    ]
    assert stub_notes(listing, targets[1]) == []
