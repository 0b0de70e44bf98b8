"""Probe results reused by content: two probes with one key are one probe.

A probe's result depends only on the environment (its key, backend, sandbox
and variables), the content of the tree it runs in, the pytest command (the
tests selected and the options), the import roots, the timeout and which
repetition it is. The data stage asks for the same probe more than once: the
gold tree of every unit of one test file holds the same content, and the
statement-faithful tree is byte-identical to the gold tree whenever the
statement lists everything masking removed. Such a probe runs once; later
askers get its records, output and exit status, and its log says it was reused.

A rerun exists to re-check a result (a pass-to-pass file that failed, the
stability runs of the gold tree), so its repetition number is in the key: a
rerun never gets the result it re-checks, only the same repetition of the same
probe. Only sessions that ended on their own are stored.

The tree's content leaves out ``.git`` and the caches Python and pytest write
while running (``__pycache__``, ``.pytest_cache``); commands whose options read
pytest's cache (``--lf``, ``--sw``, ...) are never reused. Entries are one JSON
file each under the cache's ``probes/``, written atomically, so a resumed or a
later run reuses them too, and one thread runs a probe while others asking for it
wait. With the data stage's cache off (``--debug "data=False"``) every probe runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import stat
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from orchestrator.environments import Environment
from orchestrator.pipeline.process import CommandResult
from orchestrator.pipeline.pytest_runs import PytestRun
from orchestrator.pipeline.storage import fingerprint, write_atomic
from pytest_featurebench import records as rec

FORMAT = 2  # the stored layout; bump it too when run_pytest adds other arguments of its own
REUSED = "# reused:"  # a reused probe's log starts with this
_UNHASHED = frozenset((".git", "__pycache__", ".pytest_cache"))
_READS_CACHE = frozenset(  # pytest options whose effect depends on .pytest_cache
    {
        *("--lf", "--last-failed", "--ff", "--failed-first", "--nf", "--new-first"),
        *("--sw", "--stepwise", "--sw-skip", "--stepwise-skip"),
    }
)


def tree_digest(tree: Path) -> str:
    """sha256 of every directory, file (content, executable bit) and symlink under ``tree``."""
    digest = hashlib.sha256()
    for relative, kind, data in sorted(_entries(tree)):
        digest.update(f"{kind} {len(relative)} {relative} {len(data)}\n".encode())
        digest.update(data)
    return digest.hexdigest()


def _entries(tree: Path) -> Iterator[tuple[str, str, bytes]]:
    for folder, dirs, files in os.walk(tree):
        dirs[:] = [d for d in dirs if d not in _UNHASHED]
        base = Path(folder)
        for name in [*dirs, *files]:
            path = base / name
            relative = path.relative_to(tree).as_posix()
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode):
                yield relative, "l", os.readlink(path).encode()
            elif stat.S_ISDIR(mode):
                yield relative, "d", b""
            else:
                yield relative, "x" if mode & stat.S_IXUSR else "f", path.read_bytes()


def probe_cache(cache_dir: Path, enabled: bool) -> ProbeCache | None:
    """The cache's probe results; none when the stage's cache is off (``--debug
    "data=False"`` asks for every probe afresh)."""
    return ProbeCache(cache_dir / "probes") if enabled else None


class ProbeCache:
    """Stored probe results under ``root``."""

    def __init__(self, root: Path):
        self.root = root

    def run(
        self,
        probe: Probe,
        execute: Callable[[], PytestRun],
    ) -> PytestRun:
        """The stored result of ``probe``, written to its records and log; else ``execute()``,
        stored when its session ended on its own."""
        if not probe.reusable():
            return execute()
        key = probe.key()
        with _key_lock(key):
            entry = self.root / key[:2] / f"{key}.json"
            found = _load(entry, probe)
            if found is not None:
                return found
            run = execute()
            if run.complete and run.unreadable is None and probe.records.exists():
                _store(entry, run, probe.records)
            return run


class Probe:
    """One pytest session asked for: what it depends on, and where its records and log go."""

    def __init__(
        self,
        environment: Environment,
        tree: Path,
        argv: Sequence[str],
        settings: dict[str, Any],
        outputs: tuple[Path, Path],
    ):
        self.environment = environment
        self.tree = tree
        self.argv = list(argv)
        self.settings = settings  # pythonpath, timeout, rerun: whatever else it depends on
        self.records, self.log = outputs

    def reusable(self) -> bool:
        return not any(arg.split("=", 1)[0] in _READS_CACHE for arg in self.argv)

    def key(self) -> str:
        environment = self.environment
        identity = {
            "key": environment.key,
            "backend": environment.backend,
            "sandbox": str(getattr(environment, "sandbox_mode", None)),
            "variables": dict(sorted((getattr(environment, "run_env", None) or {}).items())),
            "mounts": repr(getattr(environment, "extra_mounts", None)),  # Docker's own -v
        }
        return fingerprint(
            "probe", FORMAT, identity, tree_digest(self.tree), self.argv, self.settings
        )


_locks: dict[str, threading.Lock] = {}
_locks_lock = threading.Lock()


def _key_lock(key: str) -> threading.Lock:
    with _locks_lock:
        return _locks.setdefault(key, threading.Lock())


def _store(entry: Path, run: PytestRun, records: Path) -> None:
    """One file, written atomically: two runs storing one key never mix their parts."""
    result = run.result
    stored = {
        "argv": list(result.argv),
        "returncode": result.returncode,
        "output": result.output,
        "duration": result.duration,
        "records": records.read_bytes().decode("utf-8", "surrogateescape"),
    }
    write_atomic(entry, json.dumps(stored).encode())


def _load(entry: Path, probe: Probe) -> PytestRun | None:
    try:
        stored = json.loads(entry.read_text(encoding="utf-8"))
        write_atomic(probe.records, stored["records"].encode("utf-8", "surrogateescape"))
        found = rec.read_records([probe.records])
    except (OSError, ValueError, KeyError, rec.RecordsError):  # absent, or not ours
        return None
    result = CommandResult(
        tuple(stored["argv"]), int(stored["returncode"]), stored["output"], stored["duration"]
    )
    _write_log(probe.log, result, probe.tree, entry)
    return PytestRun(result, found)


def _write_log(log: Path, result: CommandResult, tree: Path, entry: Path) -> None:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a", encoding="utf-8") as handle:
        handle.write(f"{REUSED} same environment, tree content, tests and options ({entry})\n")
        handle.write(f"$ {shlex.join(result.argv)}\n# cwd: {tree}\n{result.output}")
        handle.write(f"\n# exit {result.returncode} after {result.duration:.1f}s (then)\n\n")
