"""The warm probe worker: runs inside the sandbox, forks a fresh pytest per probe.

Standard library only, and run as ``python -c <this source> OUTBOX`` in the
environment's sandbox (see :mod:`orchestrator.pipeline.warm_probes`): it
imports pytest and the featurebench plugin once, never the project, then
answers requests read from the ``OUTBOX/requests`` FIFO on ``OUTBOX/replies``.

Each probe is a child forked from the warm process that first narrows its
view to what a cold probe's sandbox shows: new mount, PID, network, IPC and
UTS namespaces, a fresh ``/tmp`` (``HOME`` in it) and ``/dev/shm``, the
scratch directory hidden but for the probe's tree, the outbox hidden but for
the probe's own output directory. Its child, PID 1 of the new namespace, runs
``python -m pytest`` in-process; when it ends every process it left dies with
the namespace. Nothing a probe does reaches the next one: memory is a fresh
fork, files outside its tree are on tmpfs mounts that vanish with it.
"""

from __future__ import annotations

import ctypes
import json
import os
import random
import resource
import signal
import sys
import time
from typing import Any

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x20000, 0x4000000, 0x8000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_MOVE, MS_REC, MS_PRIVATE = 32, 4096, 8192, 16384, 1 << 18
PR_SET_PDEATHSIG = 1
MEMORY_LIMIT = 8 * 1024**3  # as sandbox.MEMORY_LIMIT
GRACE = 5.0  # as process.run_command's: a finished session's time to exit
_TAIL_BYTES = 4096
_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"{what}: {os.strerror(error)}")


def mount(source: str, target: str, fstype: str | None, flags: int) -> None:
    kind = fstype.encode() if fstype else None
    _check(_libc.mount(source.encode(), target.encode(), kind, flags, None), f"mount {target}")


def narrow(request: dict[str, Any]) -> None:
    """This process's view becomes a cold probe's: of the work, only ``cwd`` and ``out``."""
    flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS
    _check(_libc.unshare(flags), "unshare")
    mount("none", "/", None, MS_REC | MS_PRIVATE)
    # /dev/shm holds the two kept directories while everything around them is covered;
    # it is left empty, as fresh as the /tmp mounted over the scratch trees and the outbox.
    mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV)
    keep = [request["cwd"], request["out"], *kept_under_tmp(request["exclude"])]
    for index, path in enumerate(keep):
        os.mkdir(f"/dev/shm/{index}")
        mount(path, f"/dev/shm/{index}", None, MS_BIND | MS_REC)
    mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV)
    hide = [path for path in request["hide"] if path not in keep]  # those not under /tmp
    for hidden in hide:
        mount("tmpfs", hidden, "tmpfs", MS_NOSUID | MS_NODEV)
    for index, path in enumerate(keep):
        os.makedirs(path, exist_ok=True)
        mount(f"/dev/shm/{index}", path, None, MS_MOVE)
        os.rmdir(f"/dev/shm/{index}")
    for hidden in hide:
        mount("none", hidden, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    os.makedirs(request["home"], exist_ok=True)
    loopback_up()


def kept_under_tmp(exclude: list[str]) -> list[str]:
    """The sandbox's own mounts under /tmp (the environment, when the cache is there),
    but for the scratch directory and the outbox: a fresh /tmp must not hide them."""
    found: list[str] = []
    with open("/proc/self/mountinfo", encoding="utf-8") as handle:
        points = sorted(_unescape(line.split()[4]) for line in handle)
    for point in points:
        inside = [*exclude, *found]
        if point.startswith("/tmp/") and not any(_within(point, top) for top in inside):
            found.append(point)
    return found


def _within(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip("/") + "/")


def _unescape(field: str) -> str:
    """mountinfo's octal escapes (``\\040`` for a space)."""
    return field.encode().decode("unicode_escape")


def loopback_up() -> None:
    """``ip link set lo up``: a new network namespace starts with it down (as bwrap's)."""
    import fcntl
    import socket
    import struct

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(sock, 0x8913, request))[1]
        fcntl.ioctl(sock, 0x8914, struct.pack("16sH14x", b"lo", flags | 0x1))


def become_probe(request: dict[str, Any]) -> None:
    """PID 1 of the probe's namespace: its /proc, limits, files, variables and path."""
    _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl")
    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    if request["timeout"] is not None:
        cpu = int(request["timeout"]) + 1
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    stdin = os.open(os.devnull, os.O_RDONLY)
    output = os.open(request["output"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    for fd, source in ((0, stdin), (1, output), (2, output)):
        os.dup2(source, fd)
    os.chdir(request["cwd"])
    # The worker's variables are a cold probe's (the same ``run``), PYTHONPATH aside.
    if request["pythonpath"]:
        os.environ["PYTHONPATH"] = os.pathsep.join(request["pythonpath"])
    # As ``python -m``: the working directory first, then PYTHONPATH, then the rest.
    sys.path[:] = [request["cwd"], *request["pythonpath"], *sys.path[1:]]
    sys.argv = ["pytest", *request["argv"]]
    random.seed()  # a fresh interpreter's own seed, not the warm process's


def run_pytest() -> int:
    import runpy

    try:
        runpy.run_module("pytest", run_name="__main__", alter_sys=True)
        code: object = 0
    except SystemExit as exit_:
        code = exit_.code
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    if code is None:
        return 0
    return code if isinstance(code, int) else 1


def probe(request: dict[str, Any]) -> None:
    """The forked child: narrow, then fork PID 1 of the new namespace and wait for it."""
    try:
        narrow(request)
        pid = os.fork()
        if pid == 0:
            try:
                become_probe(request)
                code = run_pytest()
            except BaseException:  # whatever happens, this process ends here
                import traceback

                traceback.print_exc()  # into the probe's output, or the worker's log
                code = 70
            os._exit(code & 0xFF)
        os._exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) & 0xFF)
    except BaseException as exc:  # into the worker's own log
        print(f"probe setup failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        os._exit(71)


def session_ended(records: str) -> bool:
    """Whether the main process's session-end record is the last line of ``records``."""
    try:
        with open(records, "rb") as handle:
            handle.seek(max(0, handle.seek(0, os.SEEK_END) - _TAIL_BYTES))
            last = handle.read().rstrip(b"\n").rpartition(b"\n")[2]
        record = json.loads(last)
    except (OSError, ValueError):
        return False
    return (
        isinstance(record, dict)
        and record.get("type") == "session_end"
        and not record.get("worker")
    )


def serve(request: dict[str, Any]) -> dict[str, Any]:
    """One probe: its exit status, and whether it timed out or outstayed its grace."""
    started = time.monotonic()
    timeout = request["timeout"]
    deadline = None if timeout is None else started + timeout
    stop_at: float | None = None
    pid = os.fork()
    if pid == 0:
        probe(request)
    reply: dict[str, Any] = {"timed_out": False, "stopped_after_grace": False}
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            reply["returncode"] = os.waitstatus_to_exitcode(status)
            break
        now = time.monotonic()
        if stop_at is None and session_ended(request["records"]):
            stop_at = now + GRACE
        late = stop_at is not None and now >= stop_at
        if late or (deadline is not None and now >= deadline):
            reply["stopped_after_grace" if late else "timed_out"] = True
            os.kill(pid, signal.SIGKILL)  # its PID 1 follows it (PDEATHSIG), then the rest
            reply["returncode"] = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
            break
        time.sleep(0.02)
    reply["duration"] = time.monotonic() - started
    return reply


def warm_up() -> None:
    """What every probe imports first: pytest, its built-in plugins and ours; never the
    project, nor any plugin of the environment's (a ``-p no:NAME`` would not load it)."""
    import importlib

    import pytest  # noqa: F401
    from _pytest import config

    for name in getattr(config, "default_plugins", ()):
        try:
            importlib.import_module(f"_pytest.{name}")
        except ImportError:  # a name of another pytest version
            pass
    import pytest_featurebench.plugin  # noqa: F401


def self_test(outbox: str) -> str | None:
    """Why this sandbox cannot narrow a child's view, or None when it can."""
    pid = os.fork()
    if pid == 0:
        try:
            _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET), "unshare")
            mount("none", "/", None, MS_REC | MS_PRIVATE)
            mount("tmpfs", outbox, "tmpfs", MS_NOSUID | MS_NODEV)
        except OSError:
            os._exit(1)
        os._exit(0)
    if os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) != 0:
        return "the sandbox cannot make namespaces for its probes"
    return None


def main(outbox: str) -> None:
    requests = open(os.path.join(outbox, "requests"), "rb", buffering=0)  # noqa: SIM115
    replies = open(os.path.join(outbox, "replies"), "wb", buffering=0)  # noqa: SIM115
    why = self_test(outbox)
    if why is None:
        warm_up()
    replies.write(json.dumps({"ready": why is None, "why": why}).encode() + b"\n")
    pending = b""
    while why is None:
        while b"\n" not in pending:
            chunk = os.read(requests.fileno(), 65536)
            if not chunk:
                return
            pending += chunk
        line, pending = pending.split(b"\n", 1)
        replies.write(json.dumps(serve(json.loads(line))).encode() + b"\n")


if __name__ == "__main__":
    main(sys.argv[1])
