"""Fail the instance install if it left a copy of the project's sources in the image.

Runs last in the install container (orchestrator/environments/docker.py), with the
host's work tree mounted at /testbed. The image must hold none of the project's code:
it is handed out beside a masked work tree. A non-editable install (``pip install .``)
copies the package into site-packages; this finds such copies, byte for byte, among the
files written since the install began (since this file was copied for it). Copies
packed into archives (a wheel in a cache) are not found: the install runs without caches.
"""

import hashlib
import os
import stat
import sys

TESTBED = "/testbed"
SUFFIXES = (".py", ".pyx", ".pxd", ".pyi", ".c", ".cc", ".cpp", ".h", ".hpp", ".rs")
# An empty __init__.py or a one-line module says nothing of the code, and files that
# small match unrelated ones by chance.
MIN_SIZE = 64
SHOWN = 10


def digest(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).digest()


def regular_files(top, device=None):
    """(path, lstat) of the regular files below ``top``, on ``device`` if given."""
    for root, dirs, files in os.walk(top):
        if device is not None:
            # Other file systems are mounts: /proc, /sys, /dev and the work tree itself.
            dirs[:] = [d for d in dirs if os.lstat(os.path.join(root, d)).st_dev == device]
        dirs[:] = [d for d in dirs if d != ".git"]
        for name in files:
            path = os.path.join(root, name)
            try:
                info = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode):
                yield path, info


def sources():
    """{size: {sha256}} of the work tree's source files."""
    found = {}
    for path, info in regular_files(TESTBED):
        if path.endswith(SUFFIXES) and info.st_size >= MIN_SIZE:
            found.setdefault(info.st_size, set()).add(digest(path))
    return found


def main():
    started = os.stat(__file__).st_ctime - 1  # a second of slack, for coarse clocks
    known = sources()
    copies = [
        path
        for path, info in regular_files("/", os.lstat("/").st_dev)
        if info.st_ctime >= started
        and info.st_size in known
        and digest(path) in known[info.st_size]
    ]
    if copies:
        shown = "\n  ".join(sorted(copies)[:SHOWN])
        more = f"\n  ... and {len(copies) - SHOWN} more" if len(copies) > SHOWN else ""
        print(
            f"find_copies.py: the install copied {len(copies)} of the project's source files"
            f" into the image:\n  {shown}{more}\nThe image must not hold the project's"
            " sources: install it in editable mode (pip install -e .)",
            file=sys.stderr,
        )
        sys.exit(1)


main()
