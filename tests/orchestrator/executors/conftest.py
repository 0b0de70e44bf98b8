"""The Ray cluster of the executor tests: started once, stopped by its PIDs at the end."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from tests.support.raycluster import RayCluster, start_cluster


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[RayCluster]:
    cluster = start_cluster()
    # Reported, not asserted: how slow Ray's start-up is on this machine.
    print(f"\nRay cluster {cluster.address} started in {cluster.start_seconds}", file=sys.stderr)
    try:
        yield cluster
    finally:
        cluster.stop()
