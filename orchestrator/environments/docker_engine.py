"""Talking to the Docker engine: the client, builds, waits, labels and clean-up.

Every image featurebench makes in an engine carries a label of :data:`OURS`, and
every container the host and process that made it (:data:`OWNER_LABEL`), so that
clean-up (after a replaced image, after a killed run, ``fbench docker prune``)
touches nothing else: a container whose process is gone is stale, whatever its
state. Labels pass on to images built ``FROM`` ours; only those tagged with our
names are ours to remove.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import docker
import docker.errors

from orchestrator.errors import CommandError

logger = logging.getLogger("fbench.docker")

LABEL = "featurebench.environment"  # instance images and their containers: the key
BASE_LABEL = "featurebench.base"  # base images: their tag
CASE_LABEL = "featurebench.case"  # per-case images: the instance id
ROOTFS_LABEL = "featurebench.rootfs"  # imported root filesystems: their recipe
OURS = (LABEL, BASE_LABEL, CASE_LABEL, ROOTFS_LABEL)
# Containers created, never started, that hold an image for a live process: the key.
LEASE_LABEL = "featurebench.lease"
OWNER_LABEL = "featurebench.owner"  # containers: "<host> <pid>" of the fbench that made them
# The names of the images we tag (docker_case.py names each case's as SWE-bench does).
_OUR_NAMES = ("featurebench/", "swebench/sweb.eval.")
# Read timeout of every API call: a build step may print nothing for many minutes.
_API_TIMEOUT = 3600
_POLL_SECONDS = 1.0
# What a failed build's log shows first when it has one of these: the real cause
# (pip, say, ends with "No matching distribution" after a TLS failure).
_ROOT_CAUSES = re.compile(
    r"CERTIFICATE_VERIFY_FAILED|certificate verify failed|SSLError|ProxyError"
    r"|Temporary failure in name resolution|Name or service not known|Could not resolve"
    r"|Connection refused|Network is unreachable|No space left on device"
    r"|Read-only file system|Permission denied",
)
_cleaned: set[str] = set()
_clean_lock = threading.Lock()


def daemon_address() -> str:
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


@contextlib.contextmanager
def client() -> Iterator[Any]:
    """A client for $DOCKER_HOST, closed afterwards; daemon errors become CommandError."""
    where = daemon_address()
    try:
        _probe(where)
        engine = docker.from_env(timeout=_API_TIMEOUT)
    except (OSError, docker.errors.DockerException) as exc:
        raise CommandError(
            f"no Docker daemon reachable at {where} (set DOCKER_HOST): {one_line(exc)}"
        ) from None
    try:
        yield engine
    except docker.errors.DockerException as exc:
        explanation = getattr(exc, "explanation", None) or exc
        raise CommandError(f"Docker daemon at {where}: {one_line(explanation)}") from None
    except OSError as exc:
        if not is_transport_error(exc):
            raise
        raise CommandError(f"Docker daemon at {where} went away: {one_line(exc)}") from None
    finally:
        engine.close()


def _probe(where: str) -> None:
    # The SDK leaks its socket when a unix socket refuses the connection (a
    # ResourceWarning, an error in the tests): try it first with one we close.
    if where.startswith("unix://"):
        with socket.socket(socket.AF_UNIX) as probe:
            probe.settimeout(10)
            probe.connect(where.removeprefix("unix://"))


def is_transport_error(exc: BaseException) -> bool:
    # requests' and urllib3's errors are OSErrors; importing requests for its types
    # would need stubs that the type-check environment does not have.
    return type(exc).__module__.split(".")[0] in ("requests", "urllib3")


def one_line(value: object) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= 300 else text[:297] + "..."


def image_exists(engine: Any, tag: str) -> bool:
    return bool(engine.images.list(name=tag))


def image_id(engine: Any, name: str) -> str | None:
    """The id of ``name`` in the engine, or None."""
    with contextlib.suppress(docker.errors.ImageNotFound):
        return str(engine.images.get(name).id)
    return None


def owner_labels() -> dict[str, str]:
    """The labels of a container made by this process."""
    return {OWNER_LABEL: f"{socket.gethostname()} {os.getpid()}"}


def failure(what: str, log: Path, tail: Sequence[str], lines: list[str]) -> CommandError:
    """One line: what failed, the root cause if the log has one, its last words, the log."""
    cause = next((line for line in lines if _ROOT_CAUSES.search(line)), None)
    detail = " | ".join([line for line in tail if line != cause][-4:])
    head = f"{what} failed"
    if cause is not None:
        head += f": {_around(cause)}"
    return CommandError(f"{head} (log: {log}): {one_line(detail)}")


def _around(line: str, width: int = 240) -> str:
    """``line``, or the words around its root cause when it is long (pip's warnings are)."""
    found = _ROOT_CAUSES.search(line)
    if len(line) <= width or found is None:
        return one_line(line)
    start = line.rfind(" ", 0, max(found.start() - width // 2, 0)) + 1
    return "..." + " ".join(line[start:].split())[:width] + "..."


def build(engine: Any, log: Path, **options: Any) -> str:
    """``docker build`` with the host's network, streamed to ``log``; the image's id.

    A failed build's intermediate images are removed (unless something else uses
    them), and so is the image the tag named before, once the tag has moved.
    """
    tag = options["tag"]
    logger.info("docker build -t %s (log: %s)", tag, log)
    log.parent.mkdir(parents=True, exist_ok=True)
    before = image_id(engine, tag)
    started = time.monotonic()
    lines: list[str] = []
    error = None
    with log.open("a", encoding="utf-8") as handle:
        handle.write(f"$ docker build -t {tag} (network host)\n")
        stream = engine.api.build(
            decode=True, rm=True, forcerm=True, pull=False, network_mode="host", **options
        )
        for chunk in stream:
            text = str(chunk.get("stream") or chunk.get("status") or chunk.get("error") or "")
            handle.write(text if text.endswith("\n") else text + "\n")
            lines.extend(line for line in text.splitlines() if line.strip())
            error = chunk.get("error") or error
        outcome = "failed" if error else "built"
        handle.write(f"# {outcome} after {time.monotonic() - started:.1f}s\n\n")
    if error:
        remove_images(engine, re.findall(r"---> ([0-9a-f]{12})\b", "\n".join(lines)))
        raise failure(f"docker build of {tag}", log, lines[-4:], lines)
    built = image_id(engine, tag)
    replaced(engine, before, built)
    return str(built)


def replaced(engine: Any, old: str | None, new: str | None) -> None:
    """Remove ``old``, which a tag named before it moved to ``new``."""
    if old is not None and old != new:
        remove_images(engine, [old])


def remove_images(engine: Any, ids: list[str]) -> None:
    """Remove these images where nothing (a tag, a child, a container) still needs them."""
    for name in reversed(ids):  # children first
        with contextlib.suppress(docker.errors.APIError):
            if not engine.images.get(name).tags:
                engine.images.remove(name, noprune=False)


def stream_logs(container: Any, log: Path, header: str) -> list[str]:
    """Copy the container's output to ``log`` as it comes; return its lines."""
    lines: list[str] = []
    with log.open("a", encoding="utf-8") as handle:
        handle.write(header)
        for chunk in container.logs(stdout=True, stderr=True, stream=True, follow=True):
            text = chunk.decode(errors="replace")
            handle.write(text)
            handle.flush()
            lines.extend(line for line in text.splitlines() if line.strip())
    return lines


def wait(
    container: Any,
    timeout: float | None,
    started: float,
    finished: Callable[[], bool] | None = None,
    grace: float = 5.0,
) -> tuple[int, bool, bool]:
    """The exit status; whether ``timeout`` ran out; whether it outstayed its grace.

    Once ``finished()`` is true (pytest wrote its session-end record) the command
    has ``grace`` seconds to exit; then, or at the timeout, the container is killed.
    """
    deadline = None if timeout is None else started + timeout
    stop_at: float | None = None
    while True:
        status = _wait_once(container, _next_look(deadline, stop_at, finished))
        if status is not None:
            return status, False, False
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            return _kill(container), True, False
        if stop_at is not None and now >= stop_at:
            return _kill(container), False, True
        if stop_at is None and finished is not None and finished():
            stop_at = now + grace


def _next_look(
    deadline: float | None, stop_at: float | None, finished: Callable[[], bool] | None
) -> float | None:
    """Seconds to wait before looking again; None: until the container exits."""
    ends = [t for t in (deadline, stop_at) if t is not None]
    if finished is not None and stop_at is None:
        ends.append(time.monotonic() + _POLL_SECONDS)
    return None if not ends else max(min(ends) - time.monotonic(), 0.1)


def _wait_once(container: Any, timeout: float | None) -> int | None:
    """The exit status, or None if the container still runs after ``timeout``."""
    try:
        return int(container.wait(timeout=timeout)["StatusCode"])
    except OSError as exc:  # the HTTP read timed out: the command still runs
        if timeout is None or not is_transport_error(exc):
            raise
        return None


def _kill(container: Any) -> int:
    with contextlib.suppress(docker.errors.APIError):  # it may have just exited
        container.kill()
    return int(container.wait(timeout=60)["StatusCode"])


def clean_stale_containers(engine: Any) -> list[str]:
    """Remove containers of ours whose fbench is gone (killed, say); once per engine.

    Made on this host by a process that no longer runs (a container exits with
    its command, but a killed fbench never removes it). Returns their names.
    """
    with _clean_lock:
        if daemon_address() in _cleaned:
            return []
        _cleaned.add(daemon_address())
    removed = []
    for container in our_containers(engine):
        if owner_alive(container.labels):
            continue  # a run's that goes on: it removes its containers itself
        with contextlib.suppress(docker.errors.APIError):
            container.remove(force=True)
            removed.append(container.name)
    if removed:
        logger.info("removed %d stale containers of featurebench", len(removed))
    return removed


def our_containers(engine: Any) -> list[Any]:
    """Containers an fbench made: only those carry the owner label (images pass theirs on)."""
    return list(engine.containers.list(all=True, filters={"label": OWNER_LABEL}))


def our_images(engine: Any) -> list[Any]:
    """Images with a label of ours, which an image built ``FROM`` one of ours inherits."""
    found: dict[str, Any] = {}
    for label in OURS:
        for image in engine.images.list(all=True, filters={"label": label}):
            found[image.id] = image
    return list(found.values())


def prunable(image: Any, everything: bool) -> bool:
    """Untagged; or, with ``everything``, tagged only with names of ours.

    A labelled image tagged otherwise was built by someone ``FROM`` one of ours.
    """
    if not image.tags:
        return True
    return everything and all(tag.startswith(_OUR_NAMES) for tag in image.tags)


def owner_alive(labels: dict[str, str]) -> bool:
    host, _, pid = (labels.get(OWNER_LABEL) or "").partition(" ")
    if host != socket.gethostname() or not pid.isdigit():
        return True  # another machine's, or unlabelled: fbench docker prune's to judge
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def prune(engine: Any, everything: bool = False) -> tuple[list[str], int]:
    """Remove containers and images of ours that nothing needs; what went, and bytes freed.

    Containers: all but those of a run that goes on (running, or a lease it holds).
    Images: untagged ones, and with ``everything`` every one of ours that no
    container uses.
    """
    removed = []
    for container in our_containers(engine):
        held = container.status == "running" or LEASE_LABEL in container.labels
        if held and owner_alive(container.labels):
            continue
        with contextlib.suppress(docker.errors.APIError):
            container.remove(force=True)
            removed.append(f"container {container.name}")
    freed = 0
    for _ in range(3):  # a parent goes once its children are gone
        left = [image for image in our_images(engine) if prunable(image, everything)]
        went = [image for image in left if remove_image(engine, image)]
        removed += [f"image {(image.tags or [image.short_id])[0]}" for image in went]
        freed += sum(int(image.attrs.get("Size") or 0) for image in went)
        if not went:
            break
    return removed, freed


def remove_image(engine: Any, image: Any) -> bool:
    try:
        for tag in image.tags[1:]:  # untagged one by one: removing by id would need force
            engine.images.remove(tag)
        engine.images.remove(image.tags[0] if image.tags else image.id)
    except docker.errors.APIError:
        return False
    return True
