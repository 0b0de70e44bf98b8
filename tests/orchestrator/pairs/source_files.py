"""Python files as rows of a JSONL or Parquet source, the way a code dataset holds them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from click.testing import CliRunner

from orchestrator.cli import cli

TEXT = '''\
"""Text helpers."""

import re
import numpy_that_is_not_here as np


def slugify(text, separator="-"):
    """Lower-case ``text`` and join its words with ``separator``.

    >>> slugify("Hello, World")
    'hello-world'
    >>> slugify("A b", separator="_")
    'a_b'
    """
    words = re.findall(r"[a-z0-9]+", text.lower())
    return separator.join(words)


def double(x):
    """Twice ``x``, or so the docstring claims.

    >>> double(2)
    5
    """
    result = x * 2
    return result


def count_words(text):
    """How many words ``text`` has."""
    words = text.split()
    return len(words)


def mean(values):
    """The mean of ``values``, with numpy.

    >>> mean([1, 2, 3])
    2.0
    """
    data = np.asarray(values)
    return float(data.mean())


class Box:
    def size(self):
        """The size."""
        return 1
'''

MATH = '''\
def initials(name):
    """The capital initials of ``name``.

    >>> initials("Ada Lovelace")
    'AL'
    """
    parts = name.split()
    return "".join(part[0].upper() for part in parts)


def shout(text):
    return text.upper() + "!"


DEFAULT = initials("x y")
'''

ROWS = [
    {"path": "pkg/text.py", "content": TEXT, "stars": 3},
    {"path": "pkg/names.py", "content": MATH, "stars": 1},
    {"path": "broken.py", "content": "def f(:\n", "stars": 0},
]
# Every function of the rows, with what becomes of it offline.
VALIDATED = {"slugify"}
FAILED = {
    "double": "self-tests fail",
    "count_words": "no tests",
    "mean": "self-tests fail",
}
SEED_DROPS = {"Box.size": "a method", "shout": "no docstring", "initials": "run at import time"}


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def write_parquet(path: Path, rows: list[dict[str, object]]) -> Path:
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


@dataclass(frozen=True)
class SourceRun:
    """``fbench build-pairs --source`` through the CLI, in ``root``."""

    root: Path

    def build(self, source: str, out: str, *args: str, code: int = 0) -> Path:
        argv = ["build-pairs", "--source", source, "--output-dir", str(self.root / out)]
        argv += ["--cache-dir", str(self.root / "cache"), "--jobs", "2", *args]
        if "--global-config-path" not in args:
            argv += ["--global-config-path", str(self.root / "no-config.toml")]
        result = CliRunner().invoke(cli, argv, catch_exceptions=False)
        assert result.exit_code == code, result.output
        runs = sorted((self.root / out).glob("[0-9]*/[0-9]*"))
        return runs[-1] if runs else self.root / out


def hostile_module(outside: Path, port: int) -> str:
    """Functions whose docstring examples, once run, misbehave; and one that behaves."""
    return f'''\
import os
import socket
import time


def escape(path):
    """Write outside the scratch tree.

    >>> escape({str(outside)!r})
    'written'
    """
    with open(path, "w") as stream:
        stream.write("escaped")
    return "written"


def phone_home(port):
    """Reach the machine's loopback.

    >>> phone_home({port})
    'sent'
    """
    with socket.create_connection(("127.0.0.1", port), timeout=3) as connection:
        connection.sendall(b"GET /hostile HTTP/1.0\\r\\n\\r\\n")
    return "sent"


def fork_bomb(n):
    """Fork without end.

    >>> fork_bomb(1)
    1
    """
    while True:
        os.fork()
    return n


def sleep_forever(n):
    """Never return.

    >>> sleep_forever(1)
    1
    """
    time.sleep(10**6)
    return n


def hoard(n):
    """Take more memory than the limit allows.

    >>> len(hoard(1))
    1
    """
    held = bytearray(2 * 1024**3)
    return held[:n]


def add(a, b):
    """The sum of ``a`` and ``b``.

    >>> add(2, 3)
    5
    """
    total = a + b
    return total
'''
