"""Removing the images a run replaces, never those a live run uses.

An install change (a command, a package, the interpreter, the root filesystem, the
commit) gives a spec a new environment key, so a new instance image and new case
images; the old key's stay behind. Which keys are still wanted is known only to the
cache: every run records there, under a lock, the key each of its specs (repository
and spec name) now uses (``docker/environments.json``). A key no spec of the cache
uses any more is replaced: its images (case images first, as they are built on the
instance image) are removed, and it leaves the record once its instance image is
gone. Two specs that share one key keep it while either uses it; a key this cache
never used is never its to remove (one it used and another cache still does is: a
run there holds it while it runs, and builds it again later).

A run of another spec version may still be using a replaced key, on this cache or on
another one. Every process that uses an instance image holds it with a *lease*: a
container of the image, created and never started, labelled with its owner. The
engine refuses to remove an image that a container uses, so a lease holds against
any remover (a run, ``fbench docker prune --all``), atomically: a lease is taken on
the image's id, and fails if the image went first (the run then builds it again).
A case image is skipped while its key is leased. Leases go when their process exits;
those of a killed process are stale and go at the next look (see
:func:`orchestrator.environments.docker_engine.clean_stale_containers`).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import docker
import docker.errors

from orchestrator.environments import docker_engine as engine
from orchestrator.environments.docker_engine import CASE_LABEL, LABEL, LEASE_LABEL
from orchestrator.pipeline.storage import cache_lock, read_json, write_json

logger = logging.getLogger("fbench.docker")

RECORD = Path("docker") / "environments.json"  # in the cache: key -> the specs using it
_leases: dict[tuple[str, str], str] = {}  # (daemon, image id) -> the lease's container id
_leases_lock = threading.Lock()


def lease(client: Any, image: str, key: str) -> bool:
    """Hold ``image`` (a tag or an id) for this process; False if it does not exist."""
    found = engine.image_id(client, image)
    if found is None:
        return False
    slot = (engine.daemon_address(), found)
    with _leases_lock:
        if slot in _leases:
            return True
        labels = {LEASE_LABEL: key, **engine.owner_labels()}
        try:  # by id: if the image went since, this fails rather than lease another
            container = client.containers.create(
                found, ["true"], labels=labels, network_mode="none"
            )
        except docker.errors.ImageNotFound:
            return False
        if not _leases:
            atexit.register(release_all)
        _leases[slot] = str(container.id)
    return True


def release(client: Any, image: str | None) -> None:
    """Let go of this process's lease of ``image`` (an id), if it holds one."""
    with _leases_lock:
        container = _leases.pop((engine.daemon_address(), image or ""), None)
    if container is not None:
        with contextlib.suppress(docker.errors.NotFound):
            client.containers.get(container).remove(force=True)


def release_all() -> None:
    """Every lease of this process (at exit): the engine may be gone already."""
    with _leases_lock:
        held = list(_leases.items())
        _leases.clear()
    for (daemon, _), container in held:
        with (
            contextlib.suppress(Exception),
            contextlib.closing(docker.DockerClient(base_url=daemon, timeout=30)) as client,
        ):
            client.containers.get(container).remove(force=True)


def leased_keys(client: Any) -> set[str]:
    """The keys that live processes hold; the leases of dead ones are removed."""
    keys = set()
    for container in client.containers.list(all=True, filters={"label": LEASE_LABEL}):
        if engine.owner_alive(container.labels):
            keys.add(container.labels[LEASE_LABEL])
        else:
            with contextlib.suppress(docker.errors.APIError):
                container.remove(force=True)
    return keys


def remove_replaced(cache_dir: Path, uses: Mapping[str, str]) -> list[str]:
    """Record that each spec in ``uses`` now uses its key; remove the keys none uses.

    Returns the tags removed. A key whose images cannot all go yet (leased, used by
    a container, built on by someone else) stays recorded, to be tried again.
    """
    path = cache_dir / RECORD
    with cache_lock(cache_dir, "docker", "environments"):
        record = _read(path)
        for spec, key in uses.items():
            for users in record.values():
                users.discard(spec)
            record.setdefault(key, set()).add(spec)
        removed: list[str] = []
        orphans = [key for key, users in record.items() if not users]
        if orphans:
            with engine.client() as client:
                for key in orphans:
                    if _remove_key(client, key, removed):
                        del record[key]
        write_json(path, {key: sorted(users) for key, users in sorted(record.items())})
    return removed


def _read(path: Path) -> dict[str, set[str]]:
    if not path.is_file():
        return {}
    return {key: set(users) for key, users in read_json(path, dict[str, list[str]]).items()}


def _remove_key(client: Any, key: str, removed: list[str]) -> bool:
    """Remove the images of ``key`` (tagged with our names only); whether all went."""
    images = client.images.list(filters={"label": f"{LABEL}={key}"})
    # Listed after the images: a run that built case images had leased the key before.
    if key in leased_keys(client):
        return False
    if not all(engine.prunable(image, everything=True) for image in images):
        return False  # someone tagged one, or built on one: theirs to remove first
    went: list[str] = []
    cases = [image for image in images if CASE_LABEL in image.labels]
    rest = [image for image in images if CASE_LABEL not in image.labels]
    for group in (cases, rest):  # the case images are built on the instance image
        for image in group:
            if not engine.remove_image(client, image):
                removed.extend(went)
                return False
            went.extend(image.tags or [image.short_id])
    logger.info("removed %d images of environment %s, which nothing uses", len(went), key)
    removed.extend(went)
    return True
