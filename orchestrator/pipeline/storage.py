"""Atomic writes, run directories and the fingerprinted result cache.

Every file featurebench writes goes through :func:`write_atomic`: a temporary
file in the same directory, flushed to disk, then renamed over the target, so
a run killed at any moment leaves either the old file or the new one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import msgspec

log = logging.getLogger(__name__)
RUN_SUBDIRS = ("cases", "metadata_outputs", "logs", "debug_outputs")

_json = msgspec.json.Encoder(order="sorted")


def default_cache_dir() -> Path:
    """Where results and environments are kept unless ``--cache-dir`` says otherwise."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "featurebench"


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_json(path: Path, data: Any) -> None:
    """``data`` as indented JSON (keys sorted), written atomically."""
    write_atomic(path, msgspec.json.format(_json.encode(data), indent=2) + b"\n")


def read_json(path: Path, kind: Any = Any) -> Any:
    return msgspec.json.decode(path.read_bytes(), type=kind)


def file_slug(path: str) -> str:
    """A repository path as one file name: ``tests/test_a.py`` -> ``tests_test_a.py``."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", path)


def new_run_dir(output_dir: Path, now: dt.datetime) -> Path:
    """``<output-dir>/<YYYY-MM-DD>/<HH-MM-SS>/`` with its four subdirectories.

    Two runs started in the same second take the next free second's name.
    """
    while True:
        root = output_dir / now.strftime("%Y-%m-%d") / now.strftime("%H-%M-%S")
        try:
            root.mkdir(parents=True)
            break
        except FileExistsError:
            now += dt.timedelta(seconds=1)
    for sub in RUN_SUBDIRS:
        (root / sub).mkdir()
    point_latest(output_dir, root)
    return root


def point_latest(output_dir: Path, root: Path) -> None:
    """``<output-dir>/latest`` -> the newest run, swapped in whole; a user's own file stays."""
    link = output_dir / "latest"
    if link.exists() and not link.is_symlink():
        log.warning("%s is not a link: not pointing it at the new run", link)
        return
    temporary = output_dir / f".latest.{os.getpid()}"
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(root.relative_to(output_dir))
    os.replace(temporary, link)


def is_run_dir(path: Path) -> bool:
    return all((path / sub).is_dir() for sub in RUN_SUBDIRS)


def _refuse(value: object) -> Any:
    # Seed 002's lesson: only plain data may decide a cache key. Paths of this
    # run, object identities, closures and clocks would make every run unique.
    raise TypeError(
        f"fingerprint inputs must be plain data (str, int, float, bool, list, dict);"
        f" got {type(value).__name__}"
    )


_fingerprint_encoder = msgspec.json.Encoder(order="sorted", enc_hook=_refuse)


def fingerprint(*parts: Any) -> str:
    """A stable sha256 of plain data; raises TypeError on anything else."""
    return hashlib.sha256(_fingerprint_encoder.encode(list(parts))).hexdigest()


class ResultCache:
    """Stage results on disk, one JSON file per fingerprint."""

    def __init__(self, root: Path):
        self.root = root

    def path(self, stage: str, key: str) -> Path:
        return self.root / "results" / stage / key[:2] / f"{key}.json"

    def get(self, stage: str, key: str) -> Any | None:
        path = self.path(stage, key)
        try:
            return read_json(path)
        except (FileNotFoundError, msgspec.DecodeError):
            return None

    def put(self, stage: str, key: str, value: Any) -> None:
        write_json(self.path(stage, key), value)
