"""A small project whose functions meet every fate the seeds stage knows."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from orchestrator.cli import cli
from tests.orchestrator import small_project
from tests.support.gitrepos import commit_files

PYPROJECT = small_project.PYPROJECT.replace("shapes", "textkit")

CORE = '''\
"""Small text utilities."""

import re


def slugify(text, separator="-"):
    """Lower-case ``text`` and join its words with ``separator``."""
    words = re.findall(r"[a-z0-9]+", text.lower())
    return separator.join(words)


def same_slug(text, separator="-"):
    """Lower-case ``text`` and join its words with ``separator``, again."""
    words = re.findall(r"[a-z0-9]+", text.lower())
    return separator.join(words)


def count_words(text):
    """How many words ``text`` has."""
    words = text.split()
    return len(words)


def initials(name):
    """The capital initials of ``name``: ``"Ada Lovelace"`` gives ``"AL"``."""
    parts = name.split()
    return "".join(part[0].upper() for part in parts)


def title_case(text):
    """``text`` with each of its words capitalised."""
    words = text.split()
    return " ".join(word.capitalize() for word in words)


def shout(text):
    return text.upper() + "!"


def lenient(value):
    """Half of ``value``, or None when it cannot be halved."""
    try:
        return value / 2
    finally:
        pass


def one(x): "Return x."; return x


def make_default():
    """The default separator, computed when the module is imported."""
    chosen = "-"
    return chosen


DEFAULT = make_default()


class Counter:
    """Counts the words it is fed."""

    def __init__(self):
        self.total = 0

    def feed(self, text):
        """Add the words of ``text``; return the new total."""
        self.total += count_words(text)
        return self.total
'''

TESTS = """\
from textkit.core import (
    Counter, count_words, initials, lenient, make_default, one, same_slug, shout, slugify,
    title_case,
)


def test_slugify():
    assert slugify("Hello, World") == "hello-world"
    assert slugify("A b", separator="_") == "a_b"


def test_same_slug():
    assert same_slug("Hello World") == "hello-world"


def test_count_words():
    assert count_words("a b  c") == 3


def test_counter():
    counter = Counter()
    assert counter.feed("a b") == 2
    assert counter.feed("c") == 3


def test_initials():
    assert initials("Ada Lovelace") == "AL"


def test_title_case():
    assert title_case("ada lovelace") == "Ada Lovelace"


def test_shout():
    assert shout("hi") == "HI!"


def test_lenient():
    try:
        lenient(4)
    except Exception:
        pass


def test_one():
    assert one(1) == 1


def test_default():
    assert make_default() == "-"
"""


SEEDS = {"Counter.feed", "count_words", "initials", "same_slug", "title_case"}


def make_text_project(path: Path) -> str:
    """The repository in one commit; returns its id."""
    return commit_files(
        path,
        {
            "pyproject.toml": PYPROJECT,
            "textkit/__init__.py": "",
            "textkit/core.py": CORE,
            "tests/test_core.py": TESTS,
        },
        "textkit",
        when=1_600_000_000,
    )


@dataclass(frozen=True)
class Project:
    root: Path
    specs: Path
    cache: Path

    def build_pairs(self, out: str, *args: str, code: int = 0) -> Path:
        """Run build-pairs through the CLI into ``root/out``; returns the run directory."""
        argv = ["build-pairs", "--config-path", str(self.specs), "--output-dir"]
        argv += [str(self.root / out), "--cache-dir", str(self.cache), "--jobs", "2", *args]
        result = CliRunner().invoke(cli, argv, catch_exceptions=False)
        assert result.exit_code == code, result.output
        return sorted(p for day in (self.root / out).glob("[0-9]*") for p in day.iterdir())[-1]


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]
