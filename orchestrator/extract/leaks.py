"""The leak scan: is any removed body still somewhere an agent could read it?

A removed object is recognised by its distinctive lines: lines of its source
long enough to mean something and found nowhere in the code that stays. A
file leaks the object when it holds half of them, and at least three (or all,
when the object has fewer). The scan covers every file of the case repository, every
blob in its git object store, bytecode anywhere in it, and the environment's
installed files, read from inside the environment (see :data:`SCAN_SCRIPT`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path

from dulwich.objects import Blob
from dulwich.repo import Repo

from orchestrator.environments import Environment
from orchestrator.extract.masking import Removed

MIN_LINE = 16  # shorter lines (``return x``, ``pass``) say nothing about where they came from
MATCHES_NEEDED = 3
SHARE_NEEDED = 0.5
SCAN_FILE = ".fbench-leak-scan.json"

# Runs inside the environment: every directory on sys.path that belongs to the
# environment itself (under sys.prefix, outside the standard library and the
# work tree) is read for the distinctive lines.
SCAN_SCRIPT = r"""
import json, os, sys, sysconfig
spec = json.load(open(sys.argv[1]))
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
    found: list[str] = []
    with Repo(str(repo)) as git:
        store = git.object_store
        for sha in sorted(store):
            blob = store[sha]
            if isinstance(blob, Blob):
                text = blob.data.decode("utf-8", errors="replace")
                found += [f"{key} in git object {sha.decode()}" for key in _leaks_in(text, marks)]
    return found


def scan_environment(
    environment: Environment, repo: Path, marks: dict[str, list[str]], log: Path
) -> list[str]:
    """Leaks in the environment's installed files, as seen from a run in ``repo``."""
    spec = [[key, lines, _needed(lines)] for key, lines in marks.items() if lines]
    if not spec:
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
