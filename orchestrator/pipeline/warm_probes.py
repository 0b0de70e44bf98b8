"""Probes run by a warm worker: one sandbox per thread and run, a fresh fork per probe.

A cold probe pays for a new interpreter and for importing pytest every time
(about 40% of the CPU of the data stage's probes on a small suite, nearly all
of a collection). The data stage runs a dozen probes per candidate, all on
trees under the run's scratch root, so a worker
(:mod:`orchestrator.pipeline.warm_worker`) is started there, in the
environment's own sandbox, through its ``run``: it imports pytest, its
built-in plugins and ours once, and forks a child per probe that narrows its
view to a cold probe's before pytest starts. Requests and replies go through
two FIFOs in an outbox directory the sandbox may write. Workers end with the
process (or :func:`close_all`).

Used only where the child can narrow its view (the local backend, sandboxed,
with the privilege to make namespaces); anywhere else, or with
``FBENCH_WARM_PROBES=0``, probes run cold, as before. Both give the same cases.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import shutil
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from orchestrator.environments import Environment, sandbox
from orchestrator.pipeline.process import CommandResult, write_command_log

SWITCH = "FBENCH_WARM_PROBES"  # "0": every probe starts its own interpreter
_READY_SECONDS = 180.0  # importing pytest on a loaded machine
_MARGIN_SECONDS = 30.0  # beyond a probe's own timeout and grace, the worker is stuck
_SOURCE = Path(__file__).with_name("warm_worker.py")

_local = threading.local()
_live: set[WarmWorker] = set()
_cold: set[str] = set()  # environments whose sandbox cannot host a worker
_lock = threading.Lock()


def enabled() -> bool:
    return os.environ.get(SWITCH, "1") != "0"


def pytest_args(command: Sequence[str]) -> list[str] | None:
    """The arguments of a ``pytest ...`` (or ``python -m pytest ...``) command, else None."""
    if command[:1] == ["pytest"]:
        return list(command[1:])
    if list(command[:3]) in (["python", "-m", "pytest"], ["python3", "-m", "pytest"]):
        return list(command[3:])
    return None


def warm_run(
    environment: Environment,
    args: list[str],
    *,
    repo: Path,
    timeout: float | None,
    log: Path,
    pythonpath: Sequence[str],
    written: Path,
) -> CommandResult | None:
    """``pytest args`` in ``repo`` by this thread's warm worker for its scope, its records
    at ``written`` (``{records}`` in ``args`` stands for the file); None: run it cold."""
    if not _suitable(environment):
        return None
    worker = _worker_for(environment, scope(repo.resolve()), log)
    if worker is None:
        return None
    paths = [str((repo / d).resolve()) for d in pythonpath]  # as the environment's run
    return worker.probe(args, repo, paths, timeout, log, written)


def scope(repo: Path) -> Path:
    """The directory a worker is started in: the run's whole scratch root when ``repo`` is
    in one (``<tmp>/featurebench/<run>/<scratch>/<tree>``, the data stage's), so that one
    worker per thread serves every candidate; else ``repo`` itself (a checkout)."""
    root = Path(tempfile.gettempdir()).resolve() / "featurebench"
    if repo.is_relative_to(root) and len(repo.relative_to(root).parts) >= 3:
        return root / repo.relative_to(root).parts[0]
    return repo


def _suitable(environment: Environment) -> bool:
    return (
        enabled()
        and environment.backend == "local"
        and getattr(environment, "sandbox_mode", None) is not None
        and environment.key not in _cold
    )


def _worker_for(environment: Environment, scratch: Path, log: Path) -> WarmWorker | None:
    """This thread's worker for ``scratch``; the one it had for another directory stops."""
    current: WarmWorker | None = getattr(_local, "worker", None)
    if current is not None and current.serves(environment, scratch):
        return current
    if current is not None:
        current.close()
    _local.worker = None
    with _lock:
        orphans = [w for w in _live if not w.owner.is_alive()]  # a stage's pool has ended
        _live.difference_update(orphans)  # each is closed by this thread alone
    for orphan in orphans:
        orphan.close()
    worker = WarmWorker(environment, scratch, log.with_name("warm_worker.log"))
    why = worker.start()
    if why is not None:
        worker.close()
        with _lock:
            _cold.add(environment.key)
        return None
    _local.worker = worker
    return worker


class WarmWorker:
    """One worker process in ``environment``'s sandbox, with ``scratch`` as its work tree."""

    def __init__(self, environment: Environment, scratch: Path, log: Path):
        self.environment = environment
        self.scratch = scratch
        self.log = log
        self.owner = threading.current_thread()
        self.outbox = Path(tempfile.mkdtemp(prefix="fbench-warm-"))
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None
        self.fds: tuple[int, int] | None = None
        self.pending = b""
        self.count = 0

    def serves(self, environment: Environment, scratch: Path) -> bool:
        alive = self.thread is not None and self.thread.is_alive()
        return alive and environment is self.environment and scratch == self.scratch

    def start(self) -> str | None:
        """Why the worker cannot serve, or None once it is ready."""
        for name in ("requests", "replies"):
            os.mkfifo(self.outbox / name, 0o600)
        # Read-write ends: opening never blocks, and a dead worker is seen by its thread.
        self.fds = (
            os.open(self.outbox / "requests", os.O_RDWR),
            os.open(self.outbox / "replies", os.O_RDWR),
        )
        self.thread = threading.Thread(target=self._run, name="fbench-warm", daemon=True)
        self.thread.start()
        with _lock:
            _live.add(self)
        ready = self._reply(_READY_SECONDS)
        if ready is None:
            return "the warm worker did not start"
        return None if ready.get("ready") else str(ready.get("why"))

    def _run(self) -> None:
        command = ["python", "-c", _SOURCE.read_text(encoding="utf-8"), str(self.outbox)]
        self.environment.run(
            command,
            repo=self.scratch,
            timeout=None,
            log=self.log,
            writable=[self.outbox],
            finished=self.stopping.is_set,
        )

    def probe(
        self,
        args: list[str],
        repo: Path,
        pythonpath: list[str],
        timeout: float | None,
        log: Path,
        written: Path,
    ) -> CommandResult:
        self.count += 1
        out = self.outbox / str(self.count)
        out.mkdir()
        records = out / "records.jsonl"
        argv = [a.replace("{records}", str(records)) for a in args]
        hide = [str(p) for p in (self.scratch, self.outbox) if not _under_tmp(p)]
        request: dict[str, Any] = {
            "argv": argv,
            "cwd": str(repo.resolve()),
            "out": str(out),
            "output": str(out / "output.log"),
            "records": str(records),
            "pythonpath": pythonpath,
            "timeout": timeout,
            "hide": hide,
            "exclude": [str(self.scratch), str(self.outbox.resolve())],
            "home": sandbox.HOME_INSIDE,
        }
        try:
            return self._result(request, argv, repo, timeout, log, written)
        finally:
            shutil.rmtree(out, ignore_errors=True)

    def _result(
        self,
        request: dict[str, Any],
        argv: list[str],
        repo: Path,
        timeout: float | None,
        log: Path,
        written: Path,
    ) -> CommandResult:
        assert self.fds is not None
        os.write(self.fds[0], json.dumps(request).encode() + b"\n")
        limit = None if timeout is None else timeout + 5.0 + _MARGIN_SECONDS
        reply = self._reply(limit)
        if reply is None:  # the worker died or is stuck: it serves no more probes
            self.close()
            reply = {"returncode": -9, "timed_out": True, "duration": limit}
        output_file = Path(request["output"])
        output = output_file.read_text(errors="replace") if output_file.exists() else ""
        records = Path(request["records"])
        if records.exists():
            records.replace(written)
        result = CommandResult(
            ("warm-probe", "python", "-m", "pytest", *argv),
            int(reply["returncode"]),
            output,
            float(reply.get("duration") or 0.0),
            bool(reply.get("timed_out")),
            bool(reply.get("stopped_after_grace")),
        )
        write_command_log(log, result, repo)
        return result

    def _reply(self, seconds: float | None) -> dict[str, Any] | None:
        """The worker's next line, or None when it died or took longer than ``seconds``."""
        assert self.fds is not None
        assert self.thread is not None
        deadline = None if seconds is None else time.monotonic() + seconds
        while b"\n" not in self.pending:
            if not self.thread.is_alive() or (deadline is not None and time.monotonic() > deadline):
                return None
            if select.select([self.fds[1]], [], [], 0.2)[0]:
                self.pending += os.read(self.fds[1], 65536)
        line, self.pending = self.pending.split(b"\n", 1)
        found: dict[str, Any] = json.loads(line)
        return found

    def close(self) -> None:
        """End the worker: EOF on its requests, then, if it lingers, its process group."""
        with _lock:  # two threads may close one orphan: only one closes its descriptors
            fds, self.fds = self.fds, None
        for fd in fds or ():
            os.close(fd)
        self.stopping.set()  # the run's grace, then a kill, if EOF did not end it
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join(timeout=15)
        shutil.rmtree(self.outbox, ignore_errors=True)
        with _lock:
            _live.discard(self)


def _under_tmp(path: Path) -> bool:
    return path.resolve().is_relative_to("/tmp")


def running() -> list[WarmWorker]:
    """The workers still there."""
    with _lock:
        return list(_live)


@atexit.register
def close_all() -> None:
    """Stop every worker (the end of a run, or of a test)."""
    with _lock:
        workers = list(_live)
    for worker in workers:
        worker.close()
    _local.worker = None
