"""The Docker backend's base images, and what its builds see of the host.

A base image ``featurebench/base:<python>-<hash>`` is built from
``dockerfiles/<base_image>.Dockerfile`` on top of ``$FBENCH_ROOTFS_IMAGE``
(default ``debian:bookworm``); the hash covers the template and the rootfs
image's id, and so does every environment key (:func:`docker_inputs`): another
rootfs makes new bases, new instance images and new cached results.

Builds and installs get the host's proxies, package indexes and CA bundle, passed
explicitly and nothing else of its environment: a host path in a variable
(``PIP_FIND_LINKS``, ``PIP_CERT``) means nothing in a container. The CA bundle goes
in as a file (the build context, or a read-only mount for installs), with the
variables that name it.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tarfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import docker.errors

from orchestrator.environments import sandbox
from orchestrator.environments.docker_engine import (
    BASE_LABEL,
    build,
    client,
    image_exists,
    one_line,
)
from orchestrator.errors import CommandError, UsageError
from orchestrator.pipeline.specs import RepoSpec

DEFAULT_ROOTFS = "debian:bookworm"
CA_FILE = "ca-bundle.crt"  # the host's CA bundle, in a build context or a setup mount
CA_IN_BASE = f"/usr/local/share/featurebench/{CA_FILE}"
# Docker passes these build args through without an ARG line, and keeps them out of
# the image's history.
PREDEFINED_ARGS = frozenset(
    case(name)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY", "ALL_PROXY")
    for case in (str.upper, str.lower)
)
# Package tools' settings that are URLs or numbers, never host paths.
PACKAGE_VARIABLES = frozenset(
    (
        "PIP_INDEX_URL",
        "PIP_EXTRA_INDEX_URL",
        "PIP_TRUSTED_HOST",
        "PIP_DEFAULT_TIMEOUT",
        "PIP_RETRIES",
        "UV_INDEX_URL",
        "UV_EXTRA_INDEX_URL",
        "UV_DEFAULT_INDEX",
        "UV_INDEX",
        "UV_HTTP_TIMEOUT",
    )
)
# Where the host's CA bundle may be named, in order; then the system's.
_CA_SOURCES = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "PIP_CERT", "CURL_CA_BUNDLE")
_SYSTEM_CA = Path("/etc/ssl/certs/ca-certificates.crt")
# Host paths (CA bundles, caches, config files) mean nothing inside an image.
_HOST_PATH = re.compile(r"(_DIR|_FILE|_BUNDLE|_PATH|_HOME|_CERT|_LINKS)$")

# Several specs of one run may share a base image: build it once, not once per thread.
_BASE_LOCK = threading.Lock()
_REBUILT_BASES: set[str] = set()


def build_args(run_env: Mapping[str, str]) -> dict[str, str]:
    """What builds and installs see of ours: proxies, package indexes, the run's variables."""
    host = {
        name: value
        for name, value in os.environ.items()
        if name in PREDEFINED_ARGS or name in PACKAGE_VARIABLES
    }
    return {
        name: value
        for name, value in {**host, **run_env}.items()
        if not sandbox.is_secret(name) and not _HOST_PATH.search(name)
    }


def host_ca_bundle() -> Path | None:
    """The CA bundle the host's tools use: the first named by a variable, else the system's."""
    named = [os.environ.get(name) for name in _CA_SOURCES]
    for candidate in [*(Path(n) for n in named if n), _SYSTEM_CA]:
        if candidate.is_file():
            return candidate
    return None


def ca_variables(path: str) -> dict[str, str]:
    """The variables that make pip, uv, requests, curl and git trust the bundle at ``path``."""
    names = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "PIP_CERT", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO")
    return dict.fromkeys(names, path)


def rootfs_name() -> str:
    return os.environ.get("FBENCH_ROOTFS_IMAGE") or DEFAULT_ROOTFS


def rootfs_id(engine: Any, name: str | None = None) -> str:
    """The id of the rootfs image, pulled first when the engine does not have it."""
    name = name or rootfs_name()
    try:
        return str(engine.images.get(name).id)
    except docker.errors.ImageNotFound:
        pass
    try:
        return str(engine.images.pull(name).id)
    except docker.errors.DockerException as exc:
        raise CommandError(
            f"rootfs image {name!r} is not in the engine and cannot be pulled"
            f" ({one_line(exc)}); run `fbench docker base`, or set FBENCH_ROOTFS_IMAGE"
            " to an image the engine has"
        ) from None


def docker_inputs(spec: RepoSpec) -> dict[str, Any]:
    """What a spec's environment depends on here: its extra build lines, template and rootfs."""
    with client() as engine:
        rootfs = rootfs_id(engine)
    return {
        "custom_instance_image_build": spec.custom_instance_image_build,
        "base_template": template_digest(spec.base_image),
        "rootfs": rootfs,
    }


def base_image(
    engine: Any,
    base: str,
    python_version: str,
    logs_dir: Path,
    rebuild: bool = False,
    rootfs: str | None = None,
) -> str:
    """The tag of the base image for ``base`` and ``python_version``, built if missing.

    On ``rootfs`` (default: ``$FBENCH_ROOTFS_IMAGE``, else ``debian:bookworm``).
    """
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", base):
        raise UsageError(f"base_image {base!r}: expected a template name such as 'base'")
    rootfs = rootfs or rootfs_name()
    template = resource(f"{base}.Dockerfile").read_bytes()
    digest = hashlib.sha256(template + rootfs_id(engine, rootfs).encode()).hexdigest()[:12]
    tag = f"featurebench/base:{python_version}-{digest}"
    with _BASE_LOCK:
        rebuild = rebuild and tag not in _REBUILT_BASES
        if not rebuild and image_exists(engine, tag):
            return tag
        args = {**build_args({}), "ROOTFS_IMAGE": rootfs, "PYTHON_VERSION": python_version}
        ca = host_ca_bundle()
        if ca is not None:
            args.update(ca_variables(CA_IN_BASE))
        build(
            engine,
            logs_dir / "base" / f"{tag.partition(':')[2]}.log",
            fileobj=_context(template, ca),
            custom_context=True,
            tag=tag,
            buildargs=args,
            labels={BASE_LABEL: tag},
            nocache=rebuild,
        )
        _REBUILT_BASES.add(tag)
    return tag


def _context(template: bytes, ca: Path | None) -> io.BytesIO:
    """A build context: the Dockerfile and the host's CA bundle (empty if it has none)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in (("Dockerfile", template), (CA_FILE, ca.read_bytes() if ca else b"")):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    return buffer


def template_digest(base_image: str) -> str:
    """What the base template is, for environment keys: a hash of its text."""
    text = resource(f"{base_image}.Dockerfile").read_bytes()
    return hashlib.sha256(text).hexdigest()[:16]


def resource(filename: str) -> Path:
    """A file of dockerfiles/: from $FBENCH_DOCKERFILES, the package or the source tree."""
    here = Path(__file__).resolve()
    places = [here.parents[1] / "dockerfiles", here.parents[2] / "dockerfiles"]
    places.append(Path.cwd() / "dockerfiles")  # an installed wheel run from a checkout
    if os.environ.get("FBENCH_DOCKERFILES"):
        places.insert(0, Path(os.environ["FBENCH_DOCKERFILES"]))
    for place in places:
        if (place / filename).is_file():
            return place / filename
    raise UsageError(f"no {filename} in {', '.join(map(str, places))} (set FBENCH_DOCKERFILES)")
