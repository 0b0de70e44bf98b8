"""Atomic writes, run directories and the fingerprinted result cache.

Every file featurebench writes goes through :func:`write_atomic`: a temporary
file in the same directory, flushed to disk, then renamed over the target, so
a run killed at any moment leaves either the old file or the new one. The
temporary's name carries the writer's process id, so the next run can tell a
kill's leftover from a live writer's file and remove only the former. Files
and directories follow the umask (``mkstemp`` alone would make them 0600), so
a dataset can be shared and mounted into a container that does not run as us.

Several processes may share one cache: :func:`cache_lock` is the one file
lock they take around a clone, an environment build or a cache entry.
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
from filelock import FileLock

from orchestrator.errors import UsageError

log = logging.getLogger(__name__)
RUN_SUBDIRS = ("cases", "metadata_outputs", "logs", "debug_outputs")

_json = msgspec.json.Encoder(order="sorted")
# Cache entries keep the order their producer gave (a case's config.yaml, say).
_entry_json = msgspec.json.Encoder()
_TEMPORARY = re.compile(r"^\..+\.(?P<pid>\d+)\.[^.]+\.tmp$")


def _read_umask() -> int:
    # os.umask can only be read by setting it; done once, at import, before any thread.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


UMASK = _read_umask()


def default_cache_dir() -> Path:
    """Where results and environments are kept unless ``--cache-dir`` says otherwise."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "featurebench"


def follow_umask(path: Path) -> None:
    """Give ``path`` the mode a plain ``open``/``mkdir`` would have (``mkstemp`` makes 0600)."""
    path.chmod((0o777 if path.is_dir() else 0o666) & ~UMASK)


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp"
    )
    try:
        os.fchmod(handle, 0o666 & ~UMASK)
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def remove_stale_temporaries(root: Path) -> int:
    """Delete the temporaries of :func:`write_atomic` under ``root`` whose writer is gone."""
    removed = 0
    for folder, _, names in os.walk(root):
        for name in names:
            match = _TEMPORARY.match(name)
            if match and not process_alive(int(match["pid"])):
                Path(folder, name).unlink(missing_ok=True)
                removed += 1
    return removed


def process_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine (ours or another user's)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def cache_lock(cache_dir: Path, kind: str, key: str) -> FileLock:
    """The lock that processes sharing ``cache_dir`` take around one clone, build or entry."""
    folder = cache_dir / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    return FileLock(str(folder / f"{file_slug(kind)}-{file_slug(key)}.lock"))


def write_json(path: Path, data: Any) -> None:
    """``data`` as indented JSON (keys sorted), written atomically."""
    write_atomic(path, msgspec.json.format(_json.encode(data), indent=2) + b"\n")


def read_json(path: Path, kind: Any = Any) -> Any:
    return msgspec.json.decode(path.read_bytes(), type=kind)


def file_slug(path: str) -> str:
    """A repository path as one file name: ``tests/test_a.py`` -> ``tests_test_a.py``."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", path)


def new_run_dir(output_dir: Path, now: dt.datetime, subdirs: tuple[str, ...] = RUN_SUBDIRS) -> Path:
    """``<output-dir>/<YYYY-MM-DD>/<HH-MM-SS>/`` with its subdirectories (build-cases' four).

    Two runs started in the same second take the next free second's name.
    """
    while True:
        root = output_dir / now.strftime("%Y-%m-%d") / now.strftime("%H-%M-%S")
        try:
            root.mkdir(parents=True)
            break
        except FileExistsError:
            now += dt.timedelta(seconds=1)
    for sub in subdirs:
        (root / sub).mkdir()
    point_latest(output_dir, root)
    return root


def usable_cache_dir(path: Path) -> Path:
    """``path`` made if need be and resolved; a one-line error when it cannot be a directory."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(
            f"--cache-dir {path}: cannot be used as a cache directory ({exc.strerror});"
            " give a writable directory"
        ) from None
    return path.resolve()


def run_cache_dir(run: Path) -> Path | None:
    """The ``--cache-dir`` a build-cases run used, as its metadata recorded it."""
    metadata = run / "metadata_outputs" / "metadata.json"
    try:
        recorded = read_json(metadata).get("cache_dir")
    except (OSError, msgspec.DecodeError, AttributeError):
        return None
    return Path(recorded) if isinstance(recorded, str) else None


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
        write_atomic(self.path(stage, key), _entry_json.encode(value) + b"\n")

    def remove_stale_temporaries(self) -> int:
        """Temporaries left in the entries by a killed writer."""
        return remove_stale_temporaries(self.root / "results")
