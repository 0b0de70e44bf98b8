"""The Docker backend: a base image per interpreter, an instance image per environment key.

- The base image comes from ``dockerfiles/<base_image>.Dockerfile`` on top of
  ``$FBENCH_ROOTFS_IMAGE`` (default ``debian:bookworm``). Its tag holds a hash of the
  template and of that image's id, so a changed template or rootfs makes a new base.
- The instance image ``featurebench/instance:<key>`` adds a copy of the work tree at
  /testbed, the spec's install commands and the plugin wheel. A tag exists only once its
  build succeeded, so the tag is this backend's completion marker.
- Every command runs in a new container of the instance image, with the host's work tree
  bind-mounted over /testbed (the editable install points there), the run directory and
  the logs mounted at their own paths (so absolute ``--fb-out`` paths work unchanged), no
  network unless asked, memory and process limits, and a clean set of variables. The
  container is removed afterwards, whatever happened.
- That mount hides what the install wrote into the image's /testbed (extensions built in
  place, generated files): the image keeps a copy, put into the host's work tree before
  an environment's first run, as a local install would have left it there.

Containers run as root: what the tests write into the work tree or the run directory
is root-owned on the host.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import itertools
import json
import logging
import os
import re
import shlex
import shutil
import socket
import tarfile
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import docker
import docker.errors
import docker.types

from orchestrator.environments import resolve_command, sandbox
from orchestrator.errors import CommandError, UsageError
from orchestrator.plugin_wheel import build_plugin_wheel
from orchestrator.process import CommandResult, write_command_log
from orchestrator.specs import RepoSpec

if TYPE_CHECKING:
    from orchestrator.engine import RunContext

logger = logging.getLogger("fbench.docker")

VENV = "/opt/venv"  # where the base templates put the interpreter (see dockerfiles/)
TESTBED = "/testbed"
# What the install wrote into /testbed, kept by dockerfiles/collect_products.py: the
# mount of the host's work tree hides it, so it is copied into that work tree.
PRODUCTS = "/opt/featurebench/products"
DEFAULT_ROOTFS = "debian:bookworm"
LABEL = "featurebench.environment"
PIDS_LIMIT = 4096
# Read timeout of every API call: a build step may print nothing for many minutes.
_API_TIMEOUT = 3600
# Docker passes these build args through without an ARG line, and keeps them out of
# the image's history.
_PREDEFINED_ARGS = frozenset(
    case(name)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY", "ALL_PROXY")
    for case in (str.upper, str.lower)
)
# Host paths (CA bundles, caches, config files) mean nothing inside an image.
_HOST_PATH = re.compile(r"(_DIR|_FILE|_BUNDLE|_PATH|_HOME)$")
_ENV_FLAGS = ("-e", "--env")
_VOLUME_FLAGS = ("-v", "--volume")
_FLAG_AND_VALUE = tuple(f"{flag} " for flag in (*_ENV_FLAGS, *_VOLUME_FLAGS))
_SUPPORTED = "use -e NAME=VALUE or -v HOST:CONTAINER[:ro|rw]"

# Several specs of one run may share a base image: build it once, not once per thread.
_BASE_LOCK = threading.Lock()
_REBUILT_BASES: set[str] = set()


class DockerEnvironment:
    backend = "docker"

    def __init__(self, key: str, spec: RepoSpec, ctx: RunContext):
        self.key = key
        self.spec = spec
        self.ctx = ctx
        self.tag = f"featurebench/instance:{key}"
        self.extra_env, self.extra_mounts = parse_docker_args(spec.docker_specs.custom_docker_args)
        self._gpu_turns = itertools.count()
        self._restored: set[Path] = set()  # work trees that have the install's products
        self._restoring = threading.Lock()

    def exists(self) -> bool:
        with _client() as client:
            return _image_exists(client, self.tag)

    def create(self, log: Path) -> None:
        with _client() as client:
            base = self._base_image(client)
        _append(log, f"# base image {base}\n\n")

    def install(self, repo: Path, log: Path) -> None:
        with _client() as client, tempfile.TemporaryDirectory(prefix="fbench-") as scratch:
            base = self._base_image(client)
            context = Path(scratch)
            shutil.copytree(
                repo, context / "testbed", symlinks=True, ignore=shutil.ignore_patterns(".git")
            )
            _write_manifest(context / "testbed", context / "testbed.files")
            shutil.copy2(_resource("collect_products.py"), context)
            wheel = build_plugin_wheel(self.ctx.cache_dir / "wheels")
            shutil.copy2(wheel, context / wheel.name)
            args = build_args(self.ctx.run_env)
            (context / "Dockerfile").write_text(self.instance_dockerfile(base, wheel.name, args))
            _build(
                client,
                log,
                path=str(context),
                tag=self.tag,
                buildargs=args,
                labels={LABEL: self.key},
                nocache=self.spec.rebuild_instance_image,  # else every layer comes from cache
            )
        self._restored.discard(repo.resolve())

    def run(
        self,
        argv: Sequence[str],
        *,
        repo: Path,
        timeout: float | None,
        log: Path | None = None,
        network: bool = False,
    ) -> CommandResult:
        command = resolve_command(argv, f"{VENV}/bin/python")
        logger.debug("run %s in %s (timeout=%s)", shlex.join(command), self.tag, timeout)
        started = time.monotonic()
        with _client() as client:
            self._restore_products(client, repo.resolve())
            options = self._run_options(repo, network)
            container = client.containers.create(self.tag, command, **options)
            try:
                container.start()
                returncode, timed_out = _wait(container, timeout, started)
                output = container.logs(stdout=True, stderr=True).decode(errors="replace")
            finally:
                with contextlib.suppress(docker.errors.NotFound):
                    container.remove(force=True)
        duration = time.monotonic() - started
        result = CommandResult(tuple(command), returncode, output, duration, timed_out)
        if log is not None:
            write_command_log(log, result, f"{TESTBED} in {self.tag}")
        return result

    def remove(self) -> None:
        with _client() as client, contextlib.suppress(docker.errors.ImageNotFound):
            client.images.remove(self.tag, force=True)

    def instance_dockerfile(self, base: str, wheel: str, args: Mapping[str, str]) -> str:
        """The instance image: the work tree, the spec's installs, then the plugin."""
        spec = self.spec
        lines = [f"FROM {base}"]
        lines += [f"ARG {name}" for name in sorted(args) if name not in _PREDEFINED_ARGS]
        lines += ["ARG PIP_NO_CACHE_DIR=1", f"COPY testbed/ {TESTBED}/", f"WORKDIR {TESTBED}"]
        lines += [_run_shell(command) for command in [*spec.pre_install, spec.install] if command]
        if spec.pip_packages:
            pip = ["python", "-m", "pip", "install", *spec.pip_packages]
            lines.append(_run_shell(shlex.join(pip)))
        lines += spec.custom_instance_image_build
        lines.append("COPY testbed.files collect_products.py /opt/featurebench/")
        lines.append(f"RUN {VENV}/bin/python /opt/featurebench/collect_products.py")
        # --no-deps, then only what is missing: the project's own pins stay as they are.
        plugin = [f"python -m pip install --no-deps --force-reinstall /opt/featurebench/{wheel}"]
        plugin += [
            f"{{ python -c 'import {module}' 2>/dev/null || python -m pip install {module}; }}"
            for module in ("pytest", "msgspec")
        ]
        lines += [f"COPY {wheel} /opt/featurebench/{wheel}", _run_shell(" && ".join(plugin))]
        return "\n".join(lines) + "\n"

    def _base_image(self, client: Any) -> str:
        name = self.spec.base_image
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise UsageError(f"base_image {name!r}: expected a template name such as 'base'")
        template = _resource(f"{name}.Dockerfile")
        rootfs = os.environ.get("FBENCH_ROOTFS_IMAGE") or DEFAULT_ROOTFS
        digest = hashlib.sha256(template.read_bytes() + _image_id(client, rootfs).encode())
        tag = f"featurebench/base:{self.spec.python_version}-{digest.hexdigest()[:12]}"
        with _BASE_LOCK:
            rebuild = self.spec.rebuild_base_image and tag not in _REBUILT_BASES
            if not rebuild and _image_exists(client, tag):
                return tag
            _build(
                client,
                self.ctx.logs_dir / "base" / f"{tag.partition(':')[2]}.log",
                fileobj=io.BytesIO(template.read_bytes()),
                tag=tag,
                buildargs={"ROOTFS_IMAGE": rootfs, "PYTHON_VERSION": self.spec.python_version},
                nocache=rebuild,
            )
            _REBUILT_BASES.add(tag)
        return tag

    def _restore_products(self, client: Any, repo: Path) -> None:
        """Copy the install's products into ``repo``, once per work tree, before its runs."""
        with self._restoring:
            if repo in self._restored:
                return
            container = client.containers.create(self.tag, ["true"], network_mode="none")
            try:
                stream, _ = container.get_archive(PRODUCTS)
                with tempfile.TemporaryDirectory(prefix="fbench-products-") as scratch:
                    _extract(stream, Path(scratch))
                    shutil.copytree(
                        Path(scratch) / Path(PRODUCTS).name, repo, symlinks=True, dirs_exist_ok=True
                    )
            finally:
                container.remove(force=True)
            self._restored.add(repo)

    def _run_options(self, repo: Path, network: bool) -> dict[str, Any]:
        run_args = self.spec.docker_specs.run_args
        options = {
            "working_dir": TESTBED,
            "environment": self._environment(),
            "mounts": self._mounts(repo),
            # The only network besides none that works with any engine setup, ours
            # (--bridge=none) included; runs ask for it explicitly.
            "network_mode": "host" if network else "none",
            "mem_limit": sandbox.MEMORY_LIMIT,
            "pids_limit": PIDS_LIMIT,
            "init": True,  # reaps the tests' orphans and passes signals on
            "shm_size": run_args.shm_size,
            "cap_add": run_args.cap_add or None,
            "device_requests": self._device_requests(),
            "labels": {LABEL: self.key},
        }
        return {name: value for name, value in options.items() if value is not None}

    def _environment(self) -> dict[str, str]:
        env = sandbox.clean_environment([f"{VENV}/bin"], "/root", self.ctx.run_env)
        env["VIRTUAL_ENV"] = VENV
        env.update(self.extra_env)  # the spec author's own -e: allowed, secrets or not
        return env

    def _mounts(self, repo: Path) -> list[Any]:
        mounts = [docker.types.Mount(TESTBED, str(repo.resolve()), type="bind")]
        shared = {str(self.ctx.root.resolve()), str(self.ctx.logs_dir.resolve())}
        mounts += [docker.types.Mount(path, path, type="bind") for path in sorted(shared)]
        return [*mounts, *self.extra_mounts]

    def _device_requests(self) -> list[Any] | None:
        run_args = self.spec.docker_specs.run_args
        if run_args.cuda_visible_num is None:
            return None
        # TODO(ctx): RunContext does not carry --gpu-ids yet.
        pool = self.ctx.gpu_ids[: run_args.cuda_visible_num]
        if not pool:
            raise UsageError(
                "docker_specs.run_args.cuda_visible_num is set: give --gpu-ids, e.g. 0,1"
            )
        count = min(run_args.number_once, len(pool))
        start = next(self._gpu_turns) * count  # round-robin over the pool, run by run
        ids = [str(pool[(start + i) % len(pool)]) for i in range(count)]
        return [docker.types.DeviceRequest(device_ids=ids, capabilities=[["gpu"]])]


def parse_docker_args(args: Sequence[str]) -> tuple[dict[str, str], list[Any]]:
    """``custom_docker_args`` as variables and mounts; anything else is refused."""
    # Items are arguments, as in argv; "-e NAME=VALUE" in one item is split at the blank.
    tokens = [
        token
        for arg in args
        for token in (arg.split(None, 1) if arg.startswith(_FLAG_AND_VALUE) else [arg])
    ]
    env: dict[str, str] = {}
    mounts: list[Any] = []
    position = 0
    while position < len(tokens):
        flag, inline, value = tokens[position].partition("=")
        if flag not in (*_ENV_FLAGS, *_VOLUME_FLAGS):
            raise UsageError(
                f"docker_specs.custom_docker_args: {tokens[position]!r} is not supported;"
                f" {_SUPPORTED}"
            )
        if not inline:
            position += 1
            if position == len(tokens):
                raise UsageError(f"docker_specs.custom_docker_args: {flag} needs a value")
            value = tokens[position]
        position += 1
        if flag in _ENV_FLAGS:
            name, setting = _split_env(value)
            env[name] = setting
        else:
            mounts.append(_mount(value))
    return env, mounts


def _split_env(value: str) -> tuple[str, str]:
    name, equals, setting = value.partition("=")
    if not equals or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise UsageError(f"docker_specs.custom_docker_args: -e {value!r}; {_SUPPORTED}")
    return name, setting


def _mount(value: str) -> Any:
    parts = value.split(":")
    mode = parts.pop() if len(parts) == 3 else "rw"
    named = len(parts) == 2 and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", parts[0])
    if len(parts) != 2 or mode not in ("ro", "rw") or not parts[1].startswith("/"):
        raise UsageError(f"docker_specs.custom_docker_args: -v {value!r}; {_SUPPORTED}")
    if not parts[0].startswith("/") and not named:
        raise UsageError(
            f"docker_specs.custom_docker_args: -v {value!r}: the host side must be an"
            " absolute path or a volume name"
        )
    kind = "volume" if named else "bind"
    return docker.types.Mount(parts[1], parts[0], type=kind, read_only=mode == "ro")


def build_args(run_env: Mapping[str, str]) -> dict[str, str]:
    """What installs see of ours: proxies, package indexes and the run's variables."""
    wanted = {**sandbox.install_variables(), **run_env}
    return {
        name: value
        for name, value in wanted.items()
        if not sandbox.is_secret(name) and not _HOST_PATH.search(name)
    }


def template_digest(base_image: str) -> str:
    """What the base template is, for environment keys: a hash of its text."""
    text = _resource(f"{base_image}.Dockerfile").read_bytes()
    return hashlib.sha256(text).hexdigest()[:16]


def _resource(filename: str) -> Path:
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


@contextlib.contextmanager
def _client() -> Iterator[Any]:
    """A client for $DOCKER_HOST, closed afterwards; daemon errors become CommandError."""
    where = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    try:
        _probe(where)
        client = docker.from_env(timeout=_API_TIMEOUT)
    except (OSError, docker.errors.DockerException) as exc:
        raise CommandError(
            f"no Docker daemon reachable at {where} (set DOCKER_HOST): {_one_line(exc)}"
        ) from None
    try:
        yield client
    except docker.errors.DockerException as exc:
        explanation = getattr(exc, "explanation", None) or exc
        raise CommandError(f"Docker daemon at {where}: {_one_line(explanation)}") from None
    except OSError as exc:
        if not _is_transport_error(exc):
            raise
        raise CommandError(f"Docker daemon at {where} went away: {_one_line(exc)}") from None
    finally:
        client.close()


def _probe(where: str) -> None:
    # The SDK leaks its socket when a unix socket refuses the connection (a
    # ResourceWarning, an error in the tests): try it first with one we close.
    if where.startswith("unix://"):
        with socket.socket(socket.AF_UNIX) as probe:
            probe.settimeout(10)
            probe.connect(where.removeprefix("unix://"))


def _is_transport_error(exc: BaseException) -> bool:
    # requests' and urllib3's errors are OSErrors; importing requests for its types
    # would need stubs that the type-check environment does not have.
    return type(exc).__module__.split(".")[0] in ("requests", "urllib3")


def _one_line(value: object) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= 300 else text[:297] + "..."


def _image_exists(client: Any, tag: str) -> bool:
    return bool(client.images.list(name=tag))


def _image_id(client: Any, name: str) -> str:
    """The id of ``name``, pulled first when the engine does not have it."""
    with contextlib.suppress(docker.errors.ImageNotFound):
        return str(client.images.get(name).id)
    try:
        return str(client.images.pull(name).id)
    except docker.errors.DockerException as exc:
        raise CommandError(
            f"rootfs image {name!r} is not in the engine and cannot be pulled"
            f" ({_one_line(exc)}); set FBENCH_ROOTFS_IMAGE to an image it has"
        ) from None


def _build(client: Any, log: Path, **options: Any) -> None:
    """``docker build`` with the host's network, its output streamed to ``log``."""
    logger.info("docker build -t %s (log: %s)", options["tag"], log)
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    tail: deque[str] = deque(maxlen=20)
    error = None
    with log.open("a", encoding="utf-8") as handle:
        handle.write(f"$ docker build -t {options['tag']} (network host)\n")
        stream = client.api.build(
            decode=True, rm=True, forcerm=True, pull=False, network_mode="host", **options
        )
        for chunk in stream:
            text = str(chunk.get("stream") or chunk.get("status") or chunk.get("error") or "")
            handle.write(text if text.endswith("\n") else text + "\n")
            tail.extend(line for line in text.splitlines() if line.strip())
            error = chunk.get("error") or error
        status = "failed" if error else "built"
        handle.write(f"# {status} after {time.monotonic() - started:.1f}s\n\n")
    if error:
        detail = " | ".join(list(tail)[-6:])
        raise CommandError(f"docker build of {options['tag']} failed (log: {log}): {detail}")


def _write_manifest(tree: Path, manifest: Path) -> None:
    files = [
        path.relative_to(tree).as_posix()
        for path in tree.rglob("*")
        if path.is_file() or path.is_symlink()
    ]
    manifest.write_text("".join(f"{name}\n" for name in sorted(files)))


def _extract(stream: Iterator[bytes], into: Path) -> None:
    with tempfile.TemporaryFile() as archive:
        for chunk in stream:
            archive.write(chunk)
        archive.seek(0)
        with tarfile.open(fileobj=archive) as tar:
            tar.extractall(into, filter="data")  # no paths outside, no devices


def _run_shell(command: str) -> str:
    # The exec form with an explicit shell: any text, newlines and quotes included,
    # reaches sh unchanged.
    return "RUN " + json.dumps(["/bin/sh", "-c", command])


def _wait(container: Any, timeout: float | None, started: float) -> tuple[int, bool]:
    """The exit status, and whether ``timeout`` ran out (the container is then killed)."""
    remaining = None if timeout is None else max(timeout - (time.monotonic() - started), 0.1)
    try:
        return int(container.wait(timeout=remaining)["StatusCode"]), False
    except OSError as exc:  # the HTTP read timed out: the command outlived its timeout
        if timeout is None or not _is_transport_error(exc):
            raise
        if time.monotonic() - started < timeout:
            raise
    with contextlib.suppress(docker.errors.APIError):  # it may have just exited
        container.kill()
    return int(container.wait(timeout=60)["StatusCode"]), True


def _append(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(text)
