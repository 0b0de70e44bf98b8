"""Time to make a test environment: the local backend beside the Docker backend.

For one small library (cachetools, from its PyPI sdist) it times ``create`` and
``install`` as the image stage calls them, and one trivial command run in the result:

- local, cold: an empty cache directory (pip and uv download everything);
- local, warm: the environment deleted, its caches kept;
- docker, cold: no base image (the base is built, then the instance image);
- docker, warm: the base image present, the instance image built again from scratch.

Without ``--docker-host`` it starts a private ``dockerd`` (tests/support/dockerd.py),
imports the Debian rootfs from ``~/.cache/featurebench/rootfs`` (built once with
debootstrap if missing), and stops the engine and deletes its files at the end.

    python benchmarks/env_create.py [--repeat 3] [--docker-host unix:///...]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orchestrator.environments.docker import DockerEnvironment
from orchestrator.environments.local import LocalEnvironment
from orchestrator.pipeline.repos import materialize_sdist
from orchestrator.pipeline.specs import RepoSpec
from tests.support.contexts import scratch_context
from tests.support.dockerd import Dockerd, build_rootfs_image

NAME, VERSION = "cachetools", "5.5.2"
SPEC = {"repository": f"pypi:{NAME}=={VERSION}", "pip_packages": ["pytest"]}
ROOTFS_CACHE = Path.home() / ".cache" / "featurebench" / "rootfs"
ROOTFS_TAG = "featurebench/rootfs:bookworm"
Environment = LocalEnvironment | DockerEnvironment


def timed(action: Callable[[], object]) -> float:
    started = time.monotonic()
    action()
    return time.monotonic() - started


def make(environment: Environment, repo: Path, log: Path) -> tuple[float, float]:
    """Seconds for ``create`` and for ``install``."""
    return timed(lambda: environment.create(log)), timed(lambda: environment.install(repo, log))


def run_seconds(environment: Environment, repo: Path, repeat: int) -> float:
    """Median seconds of ``python -c pass`` in the environment."""
    times = []
    for _ in range(repeat):
        result = environment.run(["python", "-c", "pass"], repo=repo, timeout=120)
        assert result.ok, result.output
        times.append(result.duration)
    return statistics.median(times)


def local_times(work: Path, repo: Path, repeat: int) -> dict[str, float]:
    spec = RepoSpec(**SPEC)
    log = work / "local.log"
    cache = work / "local-cache"
    cold = make(LocalEnvironment("bench-local", spec, cache), repo, log)
    warm = []
    for turn in range(repeat):
        environment = LocalEnvironment(f"bench-local-{turn}", spec, cache)
        warm.append(make(environment, repo, log))
    runs = run_seconds(environment, repo, 5)
    return summarize(cold, warm, runs)


def docker_times(work: Path, repo: Path, repeat: int) -> dict[str, float]:
    ctx = scratch_context(work / "docker", "docker")
    log = work / "docker.log"
    cold = make(DockerEnvironment("bench0cold", RepoSpec(**SPEC), ctx), repo, log)
    # The base stays; the instance is built again without the layer cache.
    spec = RepoSpec(**SPEC, rebuild_instance_image=True)
    warm = []
    for turn in range(repeat):
        environment = DockerEnvironment(f"bench0warm{turn}", spec, ctx)
        warm.append(make(environment, repo, log))
    runs = run_seconds(environment, repo, 5)
    return summarize(cold, warm, runs)


def summarize(
    cold: tuple[float, float], warm: list[tuple[float, float]], runs: float
) -> dict[str, float]:
    return {
        "cold: create": cold[0],
        "cold: install": cold[1],
        "cold: total": sum(cold),
        "warm: create": statistics.median(c for c, _ in warm),
        "warm: install": statistics.median(i for _, i in warm),
        "warm: total": statistics.median(c + i for c, i in warm),
        "run `python -c pass`": runs,
    }


@contextlib.contextmanager
def docker_engine(host: str | None, work: Path) -> Iterator[None]:
    """DOCKER_HOST and FBENCH_ROOTFS_IMAGE set for an engine that has the rootfs image."""
    saved = {name: os.environ.get(name) for name in ("DOCKER_HOST", "FBENCH_ROOTFS_IMAGE")}
    daemon = None if host else Dockerd.start(work / "dockerd")
    try:
        os.environ["DOCKER_HOST"] = host if daemon is None else daemon.base_url
        if daemon is not None:
            with contextlib.closing(daemon.client()) as client:
                build_rootfs_image(client, ROOTFS_TAG, ROOTFS_CACHE)
            os.environ["FBENCH_ROOTFS_IMAGE"] = ROOTFS_TAG
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        if daemon is not None:
            daemon.stop()
            daemon.remove_files()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="Warm builds per backend.")
    parser.add_argument("--docker-host", help="Use this engine instead of starting one.")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fbench-bench-") as temporary:
        work = Path(temporary)
        repo = work / f"{NAME}-{VERSION}"
        materialize_sdist(NAME, VERSION, repo, work / "sdists")
        local = local_times(work, repo, options.repeat)
        with docker_engine(options.docker_host, work):
            docker = docker_times(work, repo, options.repeat)
    print(f"environment for {NAME} {VERSION}: pip install -e . && pip install pytest")
    print(f"warm = median of {options.repeat}\n")
    print(f"{'':24}{'local':>10}{'docker':>10}{'docker/local':>14}")
    for row, seconds in local.items():
        ratio = docker[row] / seconds if seconds else float("nan")
        print(f"{row:24}{seconds:>9.2f}s{docker[row]:>9.2f}s{ratio:>13.1f}x")


if __name__ == "__main__":
    main()
