"""The Docker backend: a base image per interpreter, an instance image per environment key.

- The base image comes from ``dockerfiles/<base_image>.Dockerfile`` on top of
  ``$FBENCH_ROOTFS_IMAGE`` (default ``debian:bookworm``). Its tag holds a hash of the
  template and of that image's id, so a changed template or rootfs makes a new base.
- The instance image ``featurebench/instance:<key>`` is a container of the base image,
  committed after the spec's install commands and the plugin's ran in it with the host's
  work tree bind-mounted at /testbed (then ``custom_instance_image_build`` on top). A
  bind mount is never committed, so the image holds no copy of the project's sources:
  it can be handed out beside a masked work tree. What the install wrote into the work
  tree (extensions built in place, generated files) stays there, as a local install
  would have left it. A tag exists only once all of this succeeded, so the tag is this
  backend's completion marker.
- Every command runs in a new container of the instance image, with the host's work tree
  bind-mounted over /testbed (the editable install points there), the run directory and
  the logs mounted at their own paths (so absolute ``--fb-out`` paths work unchanged), no
  network unless asked, memory and process limits, and a clean set of variables. The
  container is removed afterwards, whatever happened.

Containers run as root: what the install or the tests write into the work tree or the
run directory is root-owned on the host.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import itertools
import logging
import os
import re
import shlex
import shutil
import socket
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import docker
import docker.errors
import docker.types

from orchestrator.environments import resolve_command, sandbox
from orchestrator.environments.docker_args import parse_docker_args
from orchestrator.environments.plugin_wheel import build_plugin_wheel
from orchestrator.errors import CommandError, UsageError
from orchestrator.pipeline.process import CommandResult, write_command_log
from orchestrator.pipeline.specs import RepoSpec

if TYPE_CHECKING:
    from orchestrator.pipeline.engine import RunContext

logger = logging.getLogger("fbench.docker")

VENV = "/opt/venv"  # where the base templates put the interpreter (see dockerfiles/)
TESTBED = "/testbed"
# The install script, the plugin wheel and find_copies.py, bind-mounted read-only for
# the install only: like the work tree, none of it is committed into the image.
SETUP = "/opt/featurebench-setup"
DEFAULT_ROOTFS = "debian:bookworm"
LABEL = "featurebench.environment"
PIDS_LIMIT = 4096
# Read timeout of every API call: a build step may print nothing for many minutes.
_API_TIMEOUT = 3600
# Docker passes these build args through without an ARG line, and keeps them out of
# the image's history (custom_instance_image_build only: the install gets none).
_PREDEFINED_ARGS = frozenset(
    case(name)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY", "ALL_PROXY")
    for case in (str.upper, str.lower)
)
# Host paths (CA bundles, caches, config files) mean nothing inside an image.
_HOST_PATH = re.compile(r"(_DIR|_FILE|_BUNDLE|_PATH|_HOME)$")
_INSTALL_VARIABLES = {
    # No caches: nothing the install downloads or builds stays in the image but the
    # install itself (a cached wheel of the project would be a copy of its sources).
    "PIP_NO_CACHE_DIR": "1",
    "UV_NO_CACHE": "1",
    # The work tree belongs to the host's user, not to root: git (setuptools-scm and
    # the like) would call it dubious and refuse to read it.
    "GIT_CONFIG_COUNT": "1",
    "GIT_CONFIG_KEY_0": "safe.directory",
    "GIT_CONFIG_VALUE_0": "*",
}

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
            setup = Path(scratch)
            wheel = build_plugin_wheel(self.ctx.cache_dir / "wheels")
            shutil.copy2(wheel, setup / wheel.name)
            shutil.copy2(_resource("find_copies.py"), setup)
            args = build_args(self.ctx.run_env)
            (setup / "install.sh").write_text(self.install_script(wheel.name, args))
            mounts = [
                docker.types.Mount(TESTBED, str(repo.resolve()), type="bind"),
                docker.types.Mount(SETUP, str(setup), type="bind", read_only=True),
            ]
            custom = self.spec.custom_instance_image_build
            image = _install_and_commit(
                client, log, base, mounts, tag=None if custom else self.tag, key=self.key
            )
            if custom:
                self._build_custom(client, log, image, args)

    def _build_custom(self, client: Any, log: Path, image: str, args: Mapping[str, str]) -> None:
        """``custom_instance_image_build`` on top of the committed install, tagged."""
        lines = [f"FROM {image}"]
        lines += [f"ARG {name}" for name in sorted(args) if name not in _PREDEFINED_ARGS]
        lines += self.spec.custom_instance_image_build
        try:
            _build(
                client,
                log,
                fileobj=io.BytesIO("\n".join([*lines, ""]).encode()),
                tag=self.tag,
                buildargs=args,
                labels={LABEL: self.key},
                nocache=self.spec.rebuild_instance_image,
            )
        except CommandError:
            # Untagged, nothing would ever use or remove it.
            with contextlib.suppress(docker.errors.APIError):
                client.images.remove(image, force=True)
            raise

    def run(
        self,
        argv: Sequence[str],
        *,
        repo: Path,
        timeout: float | None,
        log: Path | None = None,
        network: bool = False,
        pythonpath: Sequence[str] = (),
        writable: Sequence[Path] = (),  # under the run's logs, which are mounted anyway
        finished: Callable[[], bool] | None = None,
    ) -> CommandResult:
        command = resolve_command(argv, f"{VENV}/bin/python")
        logger.debug("run %s in %s (timeout=%s)", shlex.join(command), self.tag, timeout)
        started = time.monotonic()
        with _client() as client:
            options = self._run_options(repo, network, pythonpath)
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

    def install_script(self, wheel: str, args: Mapping[str, str]) -> str:
        """The instance's install: the spec's commands, the plugin, then a check for copies."""
        spec = self.spec
        commands = [command for command in [*spec.pre_install, spec.install] if command]
        if spec.pip_packages:
            commands.append(shlex.join(["python", "-m", "pip", "install", *spec.pip_packages]))
        # --no-deps, then only what is missing: the project's own pins stay as they are.
        commands.append(f"python -m pip install --no-deps --force-reinstall {SETUP}/{wheel}")
        commands += [
            f"python -c 'import {module}' 2>/dev/null || python -m pip install {module}"
            for module in ("pytest", "msgspec")
        ]
        commands.append(f"python {SETUP}/find_copies.py")
        variables = {**args, **_INSTALL_VARIABLES}
        lines = [
            f"export {name}={shlex.quote(value)}"
            for name, value in sorted(variables.items())
            if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name)
        ]
        for command in commands:
            # Each in a shell of its own, from /testbed, as a Dockerfile's RUN lines were.
            lines.append(f"printf '%s\\n' {shlex.quote(f'$ {command}')}")
            lines.append(f"cd {TESTBED} && /bin/sh -c {shlex.quote(command)} || exit $?")
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

    def _run_options(self, repo: Path, network: bool, pythonpath: Sequence[str]) -> dict[str, Any]:
        run_args = self.spec.docker_specs.run_args
        options = {
            "working_dir": TESTBED,
            "environment": self._environment(pythonpath),
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

    def _environment(self, pythonpath: Sequence[str]) -> dict[str, str]:
        env = sandbox.clean_environment([f"{VENV}/bin"], "/root", self.ctx.run_env)
        env["VIRTUAL_ENV"] = VENV
        env.update(self.extra_env)  # the spec author's own -e: allowed, secrets or not
        if pythonpath:
            # Ahead of the editable install, as the local backend does.
            env["PYTHONPATH"] = ":".join(_in_testbed(directory) for directory in pythonpath)
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


def _install_and_commit(
    client: Any, log: Path, base: str, mounts: list[Any], *, tag: str | None, key: str
) -> str:
    """Run the install script in a container of ``base``; commit it, as ``tag`` if given.

    The container has the host's network, as ``docker build`` had; its output goes to
    ``log``. Returns the new image's id; on failure the container is gone and nothing
    was committed.
    """
    name = tag or f"featurebench/instance:{key} (untagged)"
    logger.info("install into %s (log: %s)", name, log)
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    base_config = client.images.get(base).attrs["Config"]
    container = client.containers.create(
        base,
        ["/bin/sh", f"{SETUP}/install.sh"],
        working_dir=TESTBED,
        mounts=mounts,
        network_mode="host",
        labels={LABEL: key},
    )
    try:
        container.start()
        tail = _stream_logs(container, log, f"$ install into {name} (network host)\n")
        status = int(container.wait()["StatusCode"])
        outcome = "failed" if status else "installed"
        _append(log, f"# {outcome} after {time.monotonic() - started:.1f}s\n\n")
        if status:
            detail = " | ".join(list(tail)[-6:])
            raise CommandError(
                f"install into {name} failed (log: {log}): {detail}"
                f" | the install returned a non-zero code: {status}"
            )
        repository, _, version = (tag or "").rpartition(":")
        # The base's configuration, not the container's: the install's command must not
        # become the image's, nor its variables (set in the script) reach the image.
        config = {
            "Env": base_config.get("Env") or [],
            "Cmd": base_config.get("Cmd") or ["/bin/sh"],
            "Entrypoint": base_config.get("Entrypoint"),
            "WorkingDir": TESTBED,
            "Labels": {**(base_config.get("Labels") or {}), LABEL: key},
        }
        image = container.commit(repository=repository or None, tag=version or None, conf=config)
        return str(image.id)
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True)


def _stream_logs(container: Any, log: Path, header: str) -> deque[str]:
    """Copy the container's output to ``log`` as it comes; return its last lines."""
    tail: deque[str] = deque(maxlen=20)
    with log.open("a", encoding="utf-8") as handle:
        handle.write(header)
        for chunk in container.logs(stdout=True, stderr=True, stream=True, follow=True):
            text = chunk.decode(errors="replace")
            handle.write(text)
            handle.flush()
            tail.extend(line for line in text.splitlines() if line.strip())
    return tail


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


def _in_testbed(directory: str) -> str:
    """A repo-relative directory as the container sees it (``.`` is /testbed)."""
    relative = PurePosixPath(directory)
    if relative.is_absolute() or ".." in relative.parts:
        raise UsageError(f"pythonpath {directory!r}: expected a directory inside the repository")
    return str(PurePosixPath(TESTBED, relative))


def _append(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(text)
