"""A root filesystem for the base image, made without any registry (``fbench docker base``).

Where no registry is reachable, ``debian:bookworm`` cannot be pulled. Instead a
Debian bookworm root filesystem with python3, venv, pip, CA certificates and git
is made by ``debootstrap`` from a Debian mirror and ``docker import``-ed.

TLS: the host's extra CAs (``/usr/local/share/ca-certificates``, where an egress
proxy's CA is installed) are copied in, so the image's
``/etc/ssl/certs/ca-certificates.crt`` trusts everything the host trusts, and the
image sets ``SSL_CERT_FILE``/``REQUESTS_CA_BUNDLE`` so that tools with their own CA
lists (uv, requests with certifi) use that bundle too.

The tarball is cached (``<cache-dir>/rootfs/``) under a key of the recipe and the
host's extra CAs; making it needs root and ``debootstrap`` (about a minute).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import docker.errors

from orchestrator.environments.docker_engine import ROOTFS_LABEL
from orchestrator.errors import CommandError, UsageError

SUITE = "bookworm"
MIRROR = os.environ.get("FBENCH_DEBIAN_MIRROR") or "http://deb.debian.org/debian"
ROOTFS_PACKAGES = ("python3", "python3-venv", "python3-pip", "ca-certificates", "git")
HOST_EXTRA_CAS = Path("/usr/local/share/ca-certificates")
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
DEFAULT_TAG = "featurebench/rootfs:bookworm"
# Bump when _debootstrap changes what goes into the rootfs: the cached tarball is rebuilt.
_RECIPE = 2
# Like Docker's debian:*-slim images: no translations, manuals or docs (but the
# copyright files), now and for whatever apt installs later. Saves about 60 MB.
_SLIM = (
    "path-exclude /usr/share/locale/*\n"
    "path-exclude /usr/share/man/*\n"
    "path-exclude /usr/share/info/*\n"
    "path-exclude /usr/share/doc/*\n"
    "path-include /usr/share/doc/*/copyright\n"
)
_JUNK = ("var/lib/apt/lists", "var/cache/apt", "var/log", "tmp", "usr/share/locale")
_JUNK_DOCS = ("usr/share/man", "usr/share/info")


def rootfs_key() -> str:
    """What the cached rootfs depends on: recipe, suite, packages and the host's extra CAs."""
    recipe = f"{_RECIPE} {SUITE} {MIRROR} {' '.join(ROOTFS_PACKAGES)}"
    digest = hashlib.sha256(recipe.encode())
    for ca in _extra_cas():
        digest.update(ca.relative_to(HOST_EXTRA_CAS).as_posix().encode() + b"\0")
        digest.update(ca.read_bytes())
    return digest.hexdigest()[:12]


def build_rootfs_image(client: Any, tag: str, cache_dir: Path) -> str:
    """The id of a bookworm image with python3, venv, pip, CA certificates and git.

    Imports the cached rootfs tarball (made first if needed) as ``tag``, unless the
    engine already has ``tag`` made from the same rootfs. The image it replaces
    under ``tag`` is removed.
    """
    key = rootfs_key()
    old = None
    with contextlib.suppress(docker.errors.ImageNotFound):
        image = client.images.get(tag)
        if (image.labels or {}).get(ROOTFS_LABEL) == key:
            return str(image.id)
        old = image.id
    tarball = rootfs_tarball(cache_dir)
    repository, _, version = tag.rpartition(":")
    if not repository or "/" in version:
        repository, version = tag, "latest"
    changes = [
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "ENV LANG=C.UTF-8",
        f"ENV SSL_CERT_FILE={CA_BUNDLE}",
        f"ENV REQUESTS_CA_BUNDLE={CA_BUNDLE}",
        f"LABEL {ROOTFS_LABEL}={key}",
        'CMD ["bash"]',
    ]
    client.api.import_image_from_file(
        str(tarball), repository=repository, tag=version, changes=changes
    )
    if old is not None:
        with contextlib.suppress(docker.errors.APIError):
            client.images.remove(old)
    return str(client.images.get(tag).id)


def rootfs_tarball(cache_dir: Path) -> Path:
    """The cached rootfs tarball under ``cache_dir``, made with debootstrap if missing.

    Safe to call from several processes at once: one makes it, the others wait for it.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    tarball = cache_dir / f"{SUITE}-python3-{rootfs_key()}.tar"
    if tarball.exists():
        return tarball
    _check_tools()
    with _locked(cache_dir / ".lock"):
        if tarball.exists():
            return tarball
        work = Path(tempfile.mkdtemp(prefix=".rootfs-", dir=cache_dir))
        try:
            _debootstrap(work / "rootfs")
            _tar(work / "rootfs", work / "rootfs.tar")
            os.replace(work / "rootfs.tar", tarball)
        finally:
            unmount_below(work)
            if not any(p.is_relative_to(work) for p in mount_points()):
                shutil.rmtree(work, ignore_errors=True)
    return tarball


def _check_tools() -> None:
    if os.geteuid() != 0:
        raise UsageError(
            "making a root filesystem needs root (debootstrap): run `fbench docker base` as"
            " root, or point FBENCH_ROOTFS_IMAGE at an image the engine has"
        )
    if shutil.which("debootstrap") is None:
        raise UsageError("making a root filesystem needs debootstrap: apt-get install debootstrap")


def _debootstrap(target: Path) -> None:
    command = ["debootstrap", "--variant=minbase", f"--include={','.join(ROOTFS_PACKAGES)}"]
    done = subprocess.run(
        [*command, SUITE, str(target), MIRROR], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        log = target / "debootstrap" / "debootstrap.log"
        tail = " | ".join([*done.stderr.splitlines()[-3:], *_tail(log).splitlines()[-3:]])
        raise CommandError(f"debootstrap {SUITE} from {MIRROR} failed: {tail}")
    _add_host_cas(target)
    _chroot(target, "apt-get", "clean")
    (target / "etc/dpkg/dpkg.cfg.d/featurebench-slim").write_text(_SLIM)
    for directory in (*_JUNK, *_JUNK_DOCS):
        _empty(target, target / directory)
    for package in _inside(target, target / "usr/share/doc"):
        if package.is_dir() and not package.is_symlink():
            for child in _inside(target, package):
                if child.name != "copyright":
                    _remove(child)
    (target / "var/lib/apt/lists/partial").mkdir(parents=True, exist_ok=True)


def _add_host_cas(target: Path) -> None:
    """The host's extra CAs (an egress proxy's, say), so HTTPS works as it does on the host."""
    cas = _extra_cas()
    for ca in cas:
        dest = target / "usr/local/share/ca-certificates" / ca.relative_to(HOST_EXTRA_CAS)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ca, dest)
    if cas:
        _chroot(target, "update-ca-certificates")


def _chroot(target: Path, *command: str) -> None:
    subprocess.run(["chroot", str(target), *command], check=True, capture_output=True)


def _tar(target: Path, out: Path) -> None:
    excluded = ["--exclude=./dev/*", "--exclude=./proc/*", "--exclude=./sys/*"]
    command = ["tar", "--numeric-owner", "--xattrs", "-C", str(target), *excluded]
    subprocess.run([*command, "-cf", str(out), "."], check=True)


def _extra_cas() -> list[Path]:
    if not HOST_EXTRA_CAS.is_dir():
        return []
    return sorted(p for p in HOST_EXTRA_CAS.rglob("*.crt") if p.is_file())


def _inside(root: Path, directory: Path) -> list[Path]:
    """The entries of ``directory``, or none if a symlink takes it outside ``root``.

    Symlinks in the rootfs may be absolute: followed from here, they point at the host.
    """
    if directory.is_symlink() or not directory.resolve().is_relative_to(root.resolve()):
        return []
    return sorted(directory.iterdir()) if directory.is_dir() else []


def _empty(root: Path, directory: Path) -> None:
    for child in _inside(root, directory):
        _remove(child)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)  # does not follow symlinks inside
    else:
        path.unlink()


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[IO[str]]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield handle
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def mount_points() -> list[Path]:
    mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    # The fifth field, with spaces and the like octal-escaped.
    return [Path(line.split()[4].encode().decode("unicode_escape")) for line in mounts]


def unmount_below(root: Path) -> None:
    for point in sorted(mount_points(), key=lambda p: len(p.parts), reverse=True):
        if point.is_relative_to(root):
            subprocess.run(["umount", "-l", str(point)], check=False)
