"""The sandbox's init where bubblewrap is missing: run by ``unshare`` in new namespaces.

``unshare --mount --pid --fork [--net]`` starts this script as PID 1 of the
new PID namespace; it builds the same view bubblewrap would (see
``sandbox.View``) on a tmpfs, brings loopback up, enters it with ``chroot``
and becomes the command. Standard library only: it runs before anything of
the project is visible. Usage: ``sandbox_init.py PLAN_JSON -- COMMAND...``.
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import socket
import struct
import sys
from typing import Any

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC = 32, 4096, 16384
_DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
_libc = ctypes.CDLL(None, use_errno=True)


def mount(source: str, target: str, fstype: str | None, flags: int) -> None:
    kind = fstype.encode() if fstype else None
    if _libc.mount(source.encode(), target.encode(), kind, flags, None) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"mount {source} on {target}: {os.strerror(error)}")


def bind(source: str, target: str, *, readonly: bool) -> None:
    """Mount ``source`` at ``target`` (made, as a file or a directory, like the source)."""
    if os.path.isdir(source):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        open(target, "a").close()
    mount(source, target, None, MS_BIND | MS_REC)
    if readonly:  # a bind mount takes its own flags only when remounted
        mount("none", target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID)


def build_root(root: str, plan: dict[str, Any]) -> None:
    mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV)
    for directory in plan["system"]:
        if os.path.islink(directory):  # merged /usr: /bin -> usr/bin
            os.symlink(os.readlink(directory), root + directory)
        elif os.path.isdir(directory):
            bind(directory, root + directory, readonly=True)
    make_dev(root + "/dev")
    os.makedirs(root + "/proc")
    mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    os.makedirs(root + "/tmp")
    mount("tmpfs", root + "/tmp", "tmpfs", MS_NOSUID | MS_NODEV)
    os.makedirs(root + plan["home"])
    for path in plan["readable"]:
        bind(path, root + path, readonly=True)
    for path in plan["writable"]:
        bind(path, root + path, readonly=False)
    # Last, the root itself: the directories made above for mount points (/root for an
    # interpreter under /root/.pyenv, say) must not be a place the code can write to.
    mount("none", root, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


def make_dev(dev: str) -> None:
    """A minimal /dev, as bubblewrap's ``--dev``: no disks, a private /dev/shm."""
    os.makedirs(dev)
    mount("tmpfs", dev, "tmpfs", MS_NOSUID)
    for name in _DEVICES:
        bind("/dev/" + name, f"{dev}/{name}", readonly=False)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0")):
        os.symlink(target, f"{dev}/{name}")
    os.symlink("/proc/self/fd/1", dev + "/stdout")
    os.symlink("/proc/self/fd/2", dev + "/stderr")
    os.makedirs(dev + "/shm")
    mount("tmpfs", dev + "/shm", "tmpfs", MS_NOSUID | MS_NODEV)


def loopback_up() -> None:
    """``ip link set lo up`` through ioctl: a new network namespace starts with it down."""
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(sock, siocgifflags, request))[1]
        fcntl.ioctl(sock, siocsifflags, struct.pack("16sH14x", b"lo", flags | iff_up))


def main(argv: list[str]) -> None:
    plan = json.loads(argv[1])
    command = argv[argv.index("--") + 1 :]
    if plan["loopback"]:
        loopback_up()
    build_root(plan["root"], plan)
    os.chroot(plan["root"])
    os.chdir(plan["writable"][0])
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv)
