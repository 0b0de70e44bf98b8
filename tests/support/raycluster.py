"""A real two-node Ray cluster on this machine: ``ray start --head`` and a second node
joined with ``ray start --address``, each its own process group with a private
temporary directory, stopped by the PIDs this module started.

Ray's start-up is slow on a loaded machine: a node's agents may take longer than
the raylet waits for them, so a node that fails to start is started again, up to
``ATTEMPTS`` times, and the time it took is kept for the report.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

CONTAINERS = "fbench_containers"  # as orchestrator.executors.ray_tasks declares it
ATTEMPTS = 4
START_LIMIT = 240.0  # seconds for one node to join
STARTUP_NICE = 19
STOP_GRACE = 10.0  # seconds for ``ray start --block`` to stop its node on SIGTERM


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Node:
    name: str
    folder: Path  # the node's private --temp-dir (short: Ray's socket paths are limited)
    process: subprocess.Popen[bytes] | None = None

    def pids(self) -> list[int]:
        """Every process of this node: those that name its folder, and their children."""
        mine = {int(p.name) for p in Path("/proc").glob("[0-9]*") if _names(p, self.folder)}
        children = {int(p.name) for p in Path("/proc").glob("[0-9]*") if _parent(p) in mine}
        return sorted(mine | children)

    def kill(self) -> None:
        """SIGKILL every process of the node: a machine that dies, as far as Ray can tell."""
        for pid in self.pids():
            _signal(pid, signal.SIGKILL)


@dataclass
class RayCluster:
    head: Node
    worker: Node
    address: str = ""
    start_seconds: dict[str, float] = field(default_factory=dict)

    def restart_worker(self) -> None:
        """The second node again, after a test killed it: later tests have two nodes."""
        old = self.worker.process
        if old is not None:  # its ``ray start`` was killed with the node: reaped here
            _killpg(old.pid, signal.SIGKILL)
            old.wait()
        started = time.monotonic()
        _start(self.worker, [f"--address={self.address}"])
        self.start_seconds["worker restart"] = time.monotonic() - started

    def stop(self) -> None:
        for node in (self.worker, self.head):
            if node.process is not None and node.process.poll() is None:
                _killpg(node.process.pid, signal.SIGTERM)
                try:  # what does not end by then is killed below with the node's processes
                    node.process.wait(STOP_GRACE)
                except subprocess.TimeoutExpired:
                    _killpg(node.process.pid, signal.SIGKILL)
                    node.process.wait()
            node.kill()  # what outlived its ``ray start``
        shutil.rmtree(self.head.folder.parent, ignore_errors=True)


def _names(proc: Path, folder: Path) -> bool:
    try:
        return str(folder).encode() in (proc / "cmdline").read_bytes()
    except OSError:
        return False


def _parent(proc: Path) -> int:
    try:
        return int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def _killpg(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _ray() -> str:
    return str(Path(sys.executable).parent / "ray")


def _common(folder: Path) -> list[str]:
    return [
        "--num-cpus=1",
        "--object-store-memory=100000000",
        "--disable-usage-stats",
        f"--temp-dir={folder}",
        f'--resources={{"{CONTAINERS}": 1}}',
        f"--dashboard-agent-listen-port={free_port()}",
        f"--metrics-export-port={free_port()}",
        f"--runtime-env-agent-port={free_port()}",
        "--block",
    ]


def _start(node: Node, arguments: list[str]) -> None:
    """``ray start`` until the node says it runs; raises after ATTEMPTS."""
    log_path = node.folder.parent / f"{node.name}.log"
    for _ in range(ATTEMPTS):
        node.kill()
        offset = log_path.stat().st_size if log_path.exists() else 0
        with log_path.open("ab") as log:
            node.process = subprocess.Popen(
                [_ray(), "start", *arguments, *_common(node.folder)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_favoured,
            )
        if _wait_until_started(node.process, log_path, offset):
            _renice(node.process, node.pids())  # the specs' tasks run at the usual priority
            return
        _killpg(node.process.pid, signal.SIGKILL)
        node.process.wait()
    raise RuntimeError(f"Ray node {node.name} did not start in {ATTEMPTS} attempts; see {log_path}")


def _favoured() -> None:
    """A node's start at a raised priority, where allowed: its raylet gives the agents it
    starts 15 s to report their ports, which a busy machine's scheduler may not give
    them (ray-project/ray#65983). The node is a session of its own, so an autogroup of
    its own on Linux, where the group's nice is what counts. Lowered once it runs."""
    try:
        Path("/proc/self/autogroup").write_text(str(-STARTUP_NICE))
    except OSError:
        pass
    try:
        os.nice(-STARTUP_NICE)
    except PermissionError:
        pass


def _renice(process: subprocess.Popen[bytes], pids: list[int]) -> None:
    try:
        Path(f"/proc/{process.pid}/autogroup").write_text("0")
    except OSError:
        pass
    for pid in pids:
        try:
            os.setpriority(os.PRIO_PROCESS, pid, 0)
        except (ProcessLookupError, PermissionError):
            pass


def _wait_until_started(process: subprocess.Popen[bytes], log: Path, offset: int) -> bool:
    deadline = time.monotonic() + START_LIMIT
    while time.monotonic() < deadline:
        with log.open("rb") as text:
            text.seek(offset)
            if b"Ray runtime started" in text.read():
                return True
        if process.poll() is not None:
            return False  # ``ray start --block`` ended: the node failed
        time.sleep(1)
    return False


def start_cluster() -> RayCluster:
    base = Path(tempfile.mkdtemp(prefix="fbr-"))
    cluster = RayCluster(Node("head", base / "h"), Node("worker", base / "w"))
    port = free_port()
    try:
        started = time.monotonic()
        _start(cluster.head, ["--head", f"--port={port}", "--include-dashboard=false"])
        cluster.start_seconds["head"] = time.monotonic() - started
        cluster.address = f"127.0.0.1:{port}"
        started = time.monotonic()
        _start(cluster.worker, [f"--address={cluster.address}"])
        cluster.start_seconds["worker"] = time.monotonic() - started
    except BaseException:
        cluster.stop()
        raise
    return cluster
