"""A spec's share of a run directory, as data: what a worker elsewhere made, sent back.

A worker runs a spec's stages in a run directory of its own; the driver takes
the files it wrote (case directories, logs, journal entries) into the real run
directory. The status files of ``metadata_outputs/`` hold one entry per spec,
so the driver merges the worker's entry into its own file rather than
replacing the file.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

from orchestrator.pipeline.engine import RunContext
from orchestrator.pipeline.storage import read_json, write_atomic, write_json

JOURNAL = Path("metadata_outputs") / "journal"
LOGS = "logs"


class Entry(msgspec.Struct, frozen=True, array_like=True):
    path: str  # relative to the run directory, with / between parts
    mode: int
    data: bytes = b""
    link: str | None = None  # a symbolic link's target, as written


def pack(root: Path, skip: frozenset[str] = frozenset()) -> list[Entry]:
    """Every file and link under ``root`` but those named in ``skip``, sorted by path."""
    return [_entry(root, path) for path in _walk(root) if path not in skip]


def _walk(root: Path) -> Iterator[str]:
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files) + [d for d in dirs if Path(folder, d).is_symlink()]:
            yield Path(folder, name).relative_to(root).as_posix()


def _entry(root: Path, relative: str) -> Entry:
    path = root / relative
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        return Entry(relative, info.st_mode, link=os.readlink(path))
    return Entry(relative, info.st_mode, path.read_bytes())


def unpack(entries: list[Entry], ctx: RunContext) -> None:
    """Write a worker's files into the driver's run directory (logs to its logs directory)."""
    for entry in entries:
        target = _target(ctx, entry.path)
        if entry.link is not None:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.unlink(missing_ok=True)
            target.symlink_to(entry.link)
        elif _is_status_file(entry.path) and target.is_file():
            _merge(target, msgspec.json.decode(entry.data))
        else:
            write_atomic(target, entry.data)
            if entry.mode & 0o111:  # executables stay executable; other bits follow the umask
                target.chmod(target.stat().st_mode | (entry.mode & 0o111))


def _target(ctx: RunContext, relative: str) -> Path:
    first, _, rest = relative.partition("/")
    return ctx.logs_dir / rest if first == LOGS else ctx.root / relative


def _is_status_file(relative: str) -> bool:
    parts = relative.split("/")
    return len(parts) == 2 and parts[0] == "metadata_outputs" and parts[1].endswith(".json")


def _merge(target: Path, theirs: Any) -> None:
    """One spec's entries of a status file, put beside the other specs' entries."""
    ours = read_json(target)
    if not isinstance(ours, dict) or not isinstance(theirs, dict):
        raise TypeError(f"{target}: a status file that is not a JSON object")
    write_json(target, {**ours, **theirs})


def lay_out(root: Path, entries: list[Entry]) -> None:
    """``entries`` as files and links under ``root``, as :func:`pack` found them."""
    for entry in entries:
        target = root / entry.path
        if entry.link is not None:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(entry.link)
            continue
        write_atomic(target, entry.data)
        if entry.mode & 0o111:  # executables stay executable; other bits follow the umask
            target.chmod(target.stat().st_mode | (entry.mode & 0o111))


def journal_entries(ctx: RunContext) -> list[Entry]:
    """The run's journal so far, for a worker resuming the run elsewhere."""
    folder = ctx.root / JOURNAL
    return [Entry(f"{JOURNAL.as_posix()}/{e.path}", e.mode, e.data) for e in pack(folder)]


def write_entries(root: Path, entries: list[Entry]) -> frozenset[str]:
    """Lay ``entries`` out under ``root``; returns their paths (the worker sends them not back)."""
    for entry in entries:
        write_atomic(root / entry.path, entry.data)
    return frozenset(entry.path for entry in entries)
