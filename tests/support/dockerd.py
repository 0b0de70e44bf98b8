"""A private Docker engine for the tests, and a base image built without any registry.

Nothing runs a Docker engine here by default and no registry is reachable, so the suite
starts its own ``dockerd`` (Debian's ``docker.io``) as a child process with every piece of
state in a directory of its own, and makes its images from the Debian bookworm root
filesystem that ``fbench docker base`` makes (orchestrator/environments/docker_rootfs.py).

Networking: the engine runs with ``--bridge=none``, so the default bridge network does not
exist. Containers either share the host's network (``network_mode="host"``, for building
and installing from PyPI) or have none at all (``network_mode="none"``, for running code
under test). ``docker build`` needs ``network_mode="host"`` for steps that download.

TLS: this host's HTTPS goes through an egress proxy whose CA is installed locally (in
``/usr/local/share/ca-certificates``); the rootfs gets the same extra CAs.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import docker

from orchestrator.environments import docker_rootfs

# Unix socket paths must fit in sun_path (108 bytes with the NUL); containerd puts its
# own sockets a few levels below the exec-root, so keep that short as well.
_MAX_RUNTIME_DIR = 40
_APT_ENV = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}


def _apt_install(*packages: str) -> None:
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=_APT_ENV)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
        check=True,
        env=_APT_ENV,
    )


def ensure_docker_installed() -> None:
    """Install Debian's ``docker.io`` (with apt-get) unless ``dockerd`` is already on PATH."""
    if shutil.which("dockerd") is None:
        _apt_install("docker.io")


def _tail(path: Path, lines: int = 40, offset: int = 0) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            text = handle.read().decode(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0): count it as gone.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@dataclass
class Dockerd:
    """A ``dockerd`` child process whose state lives in private directories.

    The command line, flag by flag:

    - ``--storage-driver=overlay2``: the fast driver; the default would pick it anyway on
      ext4, but naming it makes a broken kernel fail loudly instead of falling back to vfs.
    - ``--iptables=false --ip6tables=false``: leave the host's firewall alone (and work
      where there is no iptables at all).
    - ``--bridge=none``: create no ``docker0`` bridge, so no host network setup either;
      containers use ``network_mode="host"`` or ``"none"``.
    - ``--ip-forward=false --ip-masq=false``: do not flip the host's
      ``net.ipv4.ip_forward`` sysctl nor add NAT rules.
    - ``--data-root``: images, containers and volumes (and the managed containerd's
      content) go under ``workdir`` instead of ``/var/lib/docker``.
    - ``--exec-root``: runtime state and containerd's sockets go to a private, short
      directory instead of ``/var/run/docker``.
    - ``--pidfile``: instead of ``/var/run/docker.pid``, which would clash with another
      engine.
    - ``-H unix://...``: a private API socket instead of ``/var/run/docker.sock``.
    - ``--config-file``: an empty private ``daemon.json``, so a host
      ``/etc/docker/daemon.json`` cannot change any of the above.
    """

    workdir: Path
    runtime_dir: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _owns_runtime_dir: bool = field(default=False, repr=False)
    _log_offset: int = field(default=0, repr=False)

    @property
    def socket(self) -> Path:
        return self.runtime_dir / "docker.sock"

    @property
    def base_url(self) -> str:
        """The ``unix://`` address of the engine's API socket."""
        return f"unix://{self.socket}"

    @property
    def pid(self) -> int:
        """The daemon's process id."""
        if self.process is None:
            raise RuntimeError("dockerd is not running")
        return self.process.pid

    @property
    def log_path(self) -> Path:
        return self.workdir / "dockerd.log"

    @property
    def data_root(self) -> Path:
        return self.workdir / "data"

    @property
    def exec_root(self) -> Path:
        return self.runtime_dir / "exec"

    def command(self) -> list[str]:
        """The ``dockerd`` command line (see the class docstring for each flag)."""
        return [
            "dockerd",
            "--storage-driver=overlay2",
            "--iptables=false",
            "--ip6tables=false",
            "--bridge=none",
            "--ip-forward=false",
            "--ip-masq=false",
            f"--data-root={self.data_root}",
            f"--exec-root={self.exec_root}",
            f"--pidfile={self.workdir / 'dockerd.pid'}",
            f"--config-file={self.workdir / 'daemon.json'}",
            "-H",
            self.base_url,
        ]

    @classmethod
    def start(cls, workdir: Path, timeout: float = 30.0) -> Dockerd:
        """Start an engine with its state under ``workdir``; return once it answers a ping."""
        ensure_docker_installed()
        workdir = workdir.resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        runtime_dir = workdir / "run"
        owns_runtime_dir = len(str(runtime_dir)) > _MAX_RUNTIME_DIR
        if owns_runtime_dir:
            runtime_dir = Path(tempfile.mkdtemp(prefix="fbd-", dir="/tmp"))
        runtime_dir.mkdir(mode=0o700, exist_ok=True)
        self = cls(workdir=workdir, runtime_dir=runtime_dir, _owns_runtime_dir=owns_runtime_dir)
        (workdir / "daemon.json").write_text("{}\n")
        with self.log_path.open("ab") as log:
            self._log_offset = log.seek(0, os.SEEK_END)
            self.process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C in the terminal is for pytest, not for us
            )
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            if owns_runtime_dir:
                self._remove_runtime_dir()
            raise
        return self

    def _wait_ready(self, timeout: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"dockerd exited with status {self.process.returncode}; "
                    f"the end of {self.log_path}:\n{self._log_tail()}"
                )
            if self.socket.exists():
                try:
                    with contextlib.closing(self.client(timeout=5)) as client:
                        if client.ping():
                            return
                except Exception as error:  # not listening yet
                    last = error
            time.sleep(0.1)
        raise RuntimeError(
            f"dockerd did not answer on {self.base_url} within {timeout:.0f} s "
            f"(last error: {last!r}); the end of {self.log_path}:\n{self._log_tail()}"
        )

    def _log_tail(self) -> str:
        return _tail(self.log_path, offset=self._log_offset)

    def client(self, timeout: int = 600) -> docker.DockerClient:
        """A new SDK client for this engine; the caller closes it (``client.close()``)."""
        return docker.DockerClient(base_url=self.base_url, version="auto", timeout=timeout)

    def _containerd_pid(self) -> int | None:
        try:
            return int((self.exec_root / "containerd" / "containerd.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the daemon by its PID: SIGTERM, wait, then SIGKILL (it and its containerd).

        On SIGTERM dockerd stops its running containers first. Afterwards, what it left
        mounted under its private exec-root and data-root is unmounted. Removes no files;
        the state under ``workdir`` stays for the caller to reuse or delete (``remove_files``).
        """
        if self.process is None:
            return
        containerd = self._containerd_pid()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        # dockerd stops the containerd it started on a clean exit, not when killed.
        if containerd is not None and _pid_alive(containerd):
            os.kill(containerd, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while _pid_alive(containerd) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _pid_alive(containerd):
                os.kill(containerd, signal.SIGKILL)
        # dockerd leaves the host network namespace bind-mounted at <exec-root>/netns/default
        # (once a container used network_mode="host"), and overlay mounts if it was killed.
        docker_rootfs.unmount_below(self.exec_root)
        docker_rootfs.unmount_below(self.data_root)
        self.process = None

    def remove_files(self) -> None:
        """Delete ``workdir`` and the runtime directory, once stopped and nothing is mounted."""
        if self.process is not None:
            raise RuntimeError("stop dockerd before removing its files")
        roots = [self.workdir, self.runtime_dir]
        left = [m for m in docker_rootfs.mount_points() if any(m.is_relative_to(r) for r in roots)]
        if left:
            raise RuntimeError(f"still mounted, not removing: {left}")
        shutil.rmtree(self.workdir, ignore_errors=True)
        if self._owns_runtime_dir:
            self._remove_runtime_dir()

    def _remove_runtime_dir(self) -> None:
        if not any(m.is_relative_to(self.runtime_dir) for m in docker_rootfs.mount_points()):
            shutil.rmtree(self.runtime_dir, ignore_errors=True)

    def __enter__(self) -> Dockerd:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def build_rootfs_image(client: docker.DockerClient, tag: str, cache_dir: Path) -> str:
    """The package's registry-free rootfs (``fbench docker base``), debootstrap installed first."""
    if shutil.which("debootstrap") is None:
        _apt_install("debootstrap")
    return docker_rootfs.build_rootfs_image(client, tag, cache_dir)
