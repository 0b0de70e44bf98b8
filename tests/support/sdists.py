"""Real libraries as test subjects: sdists from PyPI, downloaded once and cached."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

from tests.support.interpreters import CACHE

SDIST_CACHE = CACHE / "featurebench" / "sdists"


def fetch_sdist(name: str, version: str) -> Path:
    """The sdist archive of ``name==version``, from the cache or from PyPI."""
    SDIST_CACHE.mkdir(parents=True, exist_ok=True)
    found = sorted(SDIST_CACHE.glob(f"{name}-{version}.tar.gz"))
    if not found:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                "--no-binary",
                ":all:",
                "-d",
                str(SDIST_CACHE),
                f"{name}=={version}",
            ],
            check=True,
        )
        found = sorted(SDIST_CACHE.glob(f"{name}-{version}.tar.gz"))
    return found[0]


def unpack_sdist(name: str, version: str, into: Path) -> Path:
    """A fresh copy of the sdist's source tree under ``into``."""
    with tarfile.open(fetch_sdist(name, version)) as archive:
        archive.extractall(into, filter="data")
    root = into / f"{name}-{version}"
    shutil.rmtree(root / ".pytest_cache", ignore_errors=True)
    return root
