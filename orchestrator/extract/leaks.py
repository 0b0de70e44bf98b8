"""The leak scan: is any removed body still somewhere an agent could read it?

A removed object is recognised by its distinctive lines: lines of its source
long enough to mean something and found nowhere in the code that stays. A
file leaks the object when it holds half of them, and at least three (or all,
when the object has fewer). The scan covers every file of the case repository, every
blob in its git object store, bytecode anywhere in it, and the environment's
installed files, read from inside the environment (see :data:`SCAN_SCRIPT`).

Installed files of the project itself (its top-level modules, under any name in
site-packages) are scanned like the repository. Third-party files are not: a short
generic method (``def get(self, key, default=None)``) also exists, independently,
in pip's vendored distlib, so there only an object with at least
:data:`THIRD_PARTY_LINES` distinctive lines and :data:`THIRD_PARTY_CHARS`
characters of them counts, and :data:`THIRD_PARTY_SHARE` of them must be present:
a match that large means a copy.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path

from orchestrator.environments import Environment
from orchestrator.extract.masking import Removed, module_name

MIN_LINE = 16  # shorter lines (``return x``, ``pass``) say nothing about where they came from
MATCHES_NEEDED = 3
SHARE_NEEDED = 0.5
SCAN_FILE = ".fbench-leak-scan.json"
THIRD_PARTY_LINES = 6
THIRD_PARTY_CHARS = 300
THIRD_PARTY_SHARE = 0.8

# Runs inside the environment: every directory on sys.path that belongs to the
# environment itself (under sys.prefix, outside the standard library and the
# work tree) is read for the distinctive lines. A file whose first path component
# under its root is one of the project's top-level modules is the project's own;
# any other file is third-party and checked against the stricter list.
SCAN_SCRIPT = r"""
import json, os, sys, sysconfig
given = json.load(open(sys.argv[1]))
own_tops = set(given["own"])
here = os.path.realpath(os.getcwd())
stdlib = os.path.realpath(sysconfig.get_paths()["stdlib"])
prefix = os.path.realpath(sys.prefix)
roots = []
for entry in sys.path:
    real = os.path.realpath(entry or ".")
    if not os.path.isdir(real) or real.startswith(here) or real == stdlib:
        continue
    if real.startswith(prefix) and real not in roots:
        roots.append(real)
found = []
for root in roots:
    for folder, dirs, files in os.walk(root):
        for name in files:
            if not name.endswith((".py", ".pyi", ".txt", ".json", ".pth")):
                continue
            path = os.path.join(folder, name)
            top = os.path.relpath(path, root).split(os.sep)[0]
            own = top.rsplit(".", 1)[0] if top.endswith((".py", ".pyi")) else top
            spec = given["project"] if own in own_tops else given["third_party"]
            if not spec:
                continue
            try:
                lines = {l.strip() for l in open(path, encoding="utf-8", errors="replace")}
            except OSError:
                continue
            for target, wanted, needed in spec:
                if sum(line in lines for line in wanted) >= needed:
                    found.append(target + " in " + path)
print(json.dumps(found))
"""


def distinctive_lines(removed: list[Removed], kept: Iterable[str]) -> dict[str, list[str]]:
    """Per removed object (``path::qualname``), the lines that identify its body."""
    everywhere = {line.strip() for text in kept for line in text.splitlines()}
    result: dict[str, list[str]] = {}
    for item in removed:
        lines = []
        for raw in item.source.splitlines():
            line = raw.strip()
            if len(line) >= MIN_LINE and not line.startswith("#") and line not in everywhere:
                lines.append(line)
        result[f"{item.target.path}::{item.target.qualname}"] = sorted(set(lines))
    return result


def _needed(lines: list[str]) -> int:
    # Half of a long body, so that a few generic lines (``return self.func(*args,
    # **kwargs)``) shared with unrelated code are not a leak; all of a short one.
    return max(min(len(lines), MATCHES_NEEDED), math.ceil(len(lines) * SHARE_NEEDED))


def _leaks_in(text: str, marks: dict[str, list[str]]) -> list[str]:
    present = {line.strip() for line in text.splitlines()}
    return [
        key
        for key, lines in marks.items()
        if lines and sum(line in present for line in lines) >= _needed(lines)
    ]


def scan_repository(repo: Path, marks: dict[str, list[str]]) -> list[str]:
    """Leaks in the work tree, its git objects, and any bytecode left in it."""
    found: list[str] = []
    for path in sorted(repo.rglob("*")):
        relative = path.relative_to(repo)
        if relative.parts[0] == ".git" or not path.is_file():
            continue
        if path.suffix in (".pyc", ".pyo"):
            found.append(f"bytecode file {relative}")
            continue
        text = path.read_bytes().decode("utf-8", errors="replace")
        found += [f"{key} in {relative}" for key in _leaks_in(text, marks)]
    if (repo / ".git").is_dir():
        found += _scan_objects(repo, marks)
    return found


def _scan_objects(repo: Path, marks: dict[str, list[str]]) -> list[str]:
    # Imported here: statements import this module for MIN_LINE, and `fbench --help`
    # must not load dulwich.
    from dulwich.objects import Blob
    from dulwich.repo import Repo

    found: list[str] = []
    with Repo(str(repo)) as git:
        store = git.object_store
        for sha in sorted(store):
            blob = store[sha]
            if isinstance(blob, Blob):
                text = blob.data.decode("utf-8", errors="replace")
                found += [f"{key} in git object {sha.decode()}" for key in _leaks_in(text, marks)]
    return found


def leak_hint(leak: str) -> str:
    """For a leak in an installed third-party package (setuptools vendors a copy of
    more-itertools, say), the way out the spec has: that package out of the environment."""
    _, found, rest = leak.partition("/site-packages/")
    package = rest.split("/", 1)[0]
    if not found or not package or package.endswith((".py", ".pth")):
        return ""
    return (
        f"; {package} is installed with a copy: if the tests do not need it, end the spec's"
        f" install with '&& pip uninstall -y {package}'"
    )


def third_party_marks(marks: dict[str, list[str]]) -> dict[str, list[str]]:
    """The objects long and distinctive enough that finding them in another package means
    a copy, not two projects writing the same few generic lines."""
    return {
        key: lines
        for key, lines in marks.items()
        if len(lines) >= THIRD_PARTY_LINES and sum(map(len, lines)) >= THIRD_PARTY_CHARS
    }


def top_level_modules(repo: Path, skip: frozenset[str] = frozenset((".git",))) -> list[str]:
    """The importable top-level names the repository defines (flat and ``src/`` layouts),
    none from a folder named in ``skip``."""
    paths = {
        relative.as_posix()
        for found in repo.rglob("*.py")
        if not skip.intersection((relative := found.relative_to(repo)).parts)
    }
    names = {name.split(".")[0] for path in paths if (name := module_name(path, paths))}
    return sorted(names)


def _scan_spec(marks: dict[str, list[str]], repo: Path) -> dict[str, object]:
    strict = third_party_marks(marks)
    return {
        "own": top_level_modules(repo),
        "project": [[key, lines, _needed(lines)] for key, lines in marks.items() if lines],
        "third_party": [
            [key, lines, math.ceil(len(lines) * THIRD_PARTY_SHARE)] for key, lines in strict.items()
        ],
    }


def scan_environment(
    environment: Environment, repo: Path, marks: dict[str, list[str]], log: Path
) -> list[str]:
    """Leaks in the environment's installed files, as seen from a run in ``repo``."""
    spec = _scan_spec(marks, repo)
    if not spec["project"]:
        return []
    (repo / SCAN_FILE).write_text(json.dumps(spec), encoding="utf-8")
    try:
        result = environment.run(
            ["python", "-c", SCAN_SCRIPT, SCAN_FILE], repo=repo, timeout=300, log=log
        )
    finally:
        (repo / SCAN_FILE).unlink(missing_ok=True)
    if not result.ok:
        return [f"the environment scan failed (exit {result.returncode}, log {log})"]
    last = result.output.strip().splitlines()[-1:] or ["[]"]
    try:
        found: list[str] = json.loads(last[0])
    except ValueError:  # something printed after the scan's answer
        return [f"the environment scan's output is unreadable (log {log})"]
    return found
