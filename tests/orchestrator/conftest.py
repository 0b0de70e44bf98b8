"""Fixtures shared by the orchestrator's tests: the session's private Docker engine."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.dockerd import Dockerd, build_rootfs_image, ensure_docker_installed

# Taken at import: pytester points HOME elsewhere later, and the tarball is big to redo.
ROOTFS_CACHE = Path.home() / ".cache" / "featurebench" / "rootfs"
ROOTFS_TAG = "featurebench/rootfs:bookworm"


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dockerd]:
    """A private engine with the rootfs image, named by DOCKER_HOST and FBENCH_ROOTFS_IMAGE."""
    try:
        ensure_docker_installed()
        daemon = Dockerd.start(tmp_path_factory.mktemp("dockerd"))
    except (OSError, RuntimeError, subprocess.CalledProcessError) as exc:
        if os.environ.get("CI"):  # CI can always start one: there, not starting is a failure
            raise
        pytest.skip(f"cannot start a Docker daemon here: {exc}")
    try:
        with contextlib.closing(daemon.client()) as client:
            build_rootfs_image(client, ROOTFS_TAG, ROOTFS_CACHE)
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("DOCKER_HOST", daemon.base_url)
            patch.setenv("FBENCH_ROOTFS_IMAGE", ROOTFS_TAG)
            yield daemon
    finally:
        daemon.stop()
        daemon.remove_files()
