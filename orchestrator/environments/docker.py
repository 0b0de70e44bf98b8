"""The Docker backend: a base image per interpreter, an instance image per environment key.

- The base image (:mod:`orchestrator.environments.docker_base`) comes from
  ``dockerfiles/<base_image>.Dockerfile`` on top of ``$FBENCH_ROOTFS_IMAGE``.
- The instance image ``featurebench/instance:<key>`` is a container of the base image,
  committed after the spec's install commands and the plugin's ran in it with the host's
  work tree bind-mounted at /testbed (then ``custom_instance_image_build`` on top). A
  bind mount is never committed, so the image holds no copy of the project's sources:
  it can be handed out beside a masked work tree. What the install wrote into the work
  tree (extensions built in place, generated files) stays there, as a local install
  would have left it. A tag exists only once all of this succeeded, so the tag is this
  backend's completion marker; the image it named before is removed.
- Every command runs in a new container of the instance image with a read-only root
  filesystem, private ``/tmp`` and ``$HOME``, the host's work tree bind-mounted over
  /testbed (the editable install points there) and, at their own paths, only the
  directories the caller names writable (the plugin's records): nothing else of the
  host, no other run's or model's files. No network unless asked, memory and process
  limits, a clean set of variables. Once pytest's session is over, the command has a
  short grace to exit. The container is removed afterwards, whatever happened; one
  left by a killed fbench is removed by the next run.
- A process that found or built an instance image holds it (a lease) until it exits,
  so that no other run removes it meanwhile; a run removes the images of the keys
  its specs replaced (:mod:`orchestrator.environments.docker_replaced`).

Containers run as root: what the install or the tests write into the work tree is
root-owned on the host.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import logging
import re
import shlex
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import docker.errors
import docker.types

from orchestrator.environments import docker_engine as engine
from orchestrator.environments import docker_replaced as leases
from orchestrator.environments import resolve_command, sandbox
from orchestrator.environments.docker_args import parse_docker_args
from orchestrator.environments.docker_base import (
    CA_FILE,
    PREDEFINED_ARGS,
    base_image,
    build_args,
    ca_variables,
    host_ca_bundle,
    resource,
)
from orchestrator.environments.docker_engine import LABEL
from orchestrator.environments.plugin_wheel import build_plugin_wheel
from orchestrator.errors import UsageError
from orchestrator.pipeline.process import CommandResult, write_command_log
from orchestrator.pipeline.specs import RepoSpec

if TYPE_CHECKING:
    from orchestrator.pipeline.engine import RunContext

__all__ = ["LABEL", "DockerEnvironment"]

logger = logging.getLogger("fbench.docker")

VENV = "/opt/venv"  # where the base templates put the interpreter (see dockerfiles/)
TESTBED = "/testbed"
# The install script, the plugin wheel, find_copies.py and the host's CA bundle,
# bind-mounted read-only for the install only: none of it is committed into the image.
SETUP = "/opt/featurebench-setup"
PIDS_LIMIT = 4096
HOME = "/root"
# Private and empty in every run: the root filesystem is read-only.
_TMPFS = {"/tmp": "rw,nosuid,nodev,size=1g,mode=1777", HOME: "rw,nosuid,nodev,size=256m"}
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


class DockerEnvironment:
    backend = "docker"

    def __init__(self, key: str, spec: RepoSpec, ctx: RunContext):
        self.key = key
        self.spec = spec
        self.ctx = ctx
        self.tag = f"featurebench/instance:{key}"
        self.extra_env, self.extra_mounts = parse_docker_args(spec.docker_specs.custom_docker_args)
        self._gpu_turns = itertools.count()

    @property
    def run_env(self) -> dict[str, str]:
        """The variables a test run gets beyond the image's: the run's and the spec's ``-e``."""
        return {**self.ctx.run_env, **self.extra_env}

    def exists(self) -> bool:
        """Whether the image is built; if so, this process holds it from now on."""
        with engine.client() as client:
            engine.clean_stale_containers(client)
            return leases.lease(client, self.tag, self.key)

    def stale(self, repo: Path) -> str | None:
        # The project is installed from /testbed inside the image, and every run mounts
        # its work tree there: no host path is recorded that a moved cache could break.
        return None

    def create(self, log: Path) -> None:
        with engine.client() as client:
            base = self._base_image(client)
        _append(log, f"# base image {base}\n\n")

    def install(self, repo: Path, log: Path) -> None:
        with engine.client() as client, tempfile.TemporaryDirectory(prefix="fbench-") as scratch:
            base = self._base_image(client)
            before = engine.image_id(client, self.tag)
            setup = Path(scratch)
            args = self._setup(setup)
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
            leases.release(client, before)
            engine.replaced(client, before, engine.image_id(client, self.tag))
            leases.lease(client, self.tag, self.key)

    def _setup(self, setup: Path) -> dict[str, str]:
        """The install's files in ``setup``; returns the build args it was given."""
        wheel = build_plugin_wheel(self.ctx.cache_dir / "wheels")
        shutil.copy2(wheel, setup / wheel.name)
        shutil.copy2(resource("find_copies.py"), setup)
        args = build_args(self.ctx.run_env)
        ca = host_ca_bundle()
        variables = dict(args)
        if ca is not None:
            shutil.copyfile(ca, setup / CA_FILE)
            variables.update(ca_variables(f"{SETUP}/{CA_FILE}"))
        (setup / "install.sh").write_text(self.install_script(wheel.name, variables))
        return args

    def _build_custom(self, client: Any, log: Path, image: str, args: Mapping[str, str]) -> None:
        """``custom_instance_image_build`` on top of the committed install, tagged."""
        lines = [f"FROM {image}"]
        lines += [f"ARG {name}" for name in sorted(args) if name not in PREDEFINED_ARGS]
        lines += self.spec.custom_instance_image_build
        try:
            engine.build(
                client,
                log,
                fileobj=io.BytesIO("\n".join([*lines, ""]).encode()),
                tag=self.tag,
                buildargs=args,
                labels={LABEL: self.key},
                nocache=self.spec.rebuild_instance_image,
            )
        finally:
            # Untagged (and, once built on, needed by nothing): nothing else would remove it.
            engine.remove_images(client, [image])

    def run(
        self,
        argv: Sequence[str],
        *,
        repo: Path,
        timeout: float | None,
        log: Path | None = None,
        network: bool = False,
        pythonpath: Sequence[str] = (),
        writable: Sequence[Path] = (),
        finished: Callable[[], bool] | None = None,
    ) -> CommandResult:
        command = resolve_command(argv, f"{VENV}/bin/python")
        logger.debug("run %s in %s (timeout=%s)", shlex.join(command), self.tag, timeout)
        started = time.monotonic()
        with engine.client() as client:
            options = self._run_options(repo, network, pythonpath, writable)
            container = client.containers.create(self.tag, command, **options)
            try:
                container.start()
                returncode, timed_out, stopped = engine.wait(container, timeout, started, finished)
                output = container.logs(stdout=True, stderr=True).decode(errors="replace")
            finally:
                with contextlib.suppress(docker.errors.NotFound):
                    container.remove(force=True)
        duration = time.monotonic() - started
        result = CommandResult(tuple(command), returncode, output, duration, timed_out, stopped)
        if log is not None:
            write_command_log(log, result, f"{TESTBED} in {self.tag}")
        return result

    def remove(self) -> None:
        with engine.client() as client, contextlib.suppress(docker.errors.ImageNotFound):
            leases.release(client, engine.image_id(client, self.tag))
            client.images.remove(self.tag, force=True)

    def install_script(self, wheel: str, variables: Mapping[str, str]) -> str:
        """The instance's install: the spec's commands, the plugin, then a check for copies."""
        spec = self.spec
        # pip_packages first, as the local backend and exports: the project's install wins.
        commands = [shlex.join(["python", "-m", "pip", "install", *spec.pip_packages])]
        commands = commands if spec.pip_packages else []
        commands += [command for command in [*spec.pre_install, spec.install] if command]
        # --no-deps, then only what is missing: the project's own pins stay as they are.
        commands.append(f"python -m pip install --no-deps --force-reinstall {SETUP}/{wheel}")
        commands += [
            f"python -c 'import {module}' 2>/dev/null || python -m pip install {module}"
            for module in ("pytest", "msgspec")
        ]
        commands.append(f"python {SETUP}/find_copies.py")
        lines = [
            f"export {name}={shlex.quote(value)}"
            for name, value in sorted({**variables, **_INSTALL_VARIABLES}.items())
            if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name)
        ]
        for command in commands:
            # Each in a shell of its own, from /testbed, as a Dockerfile's RUN lines were.
            lines.append(f"printf '%s\\n' {shlex.quote(f'$ {command}')}")
            lines.append(f"cd {TESTBED} && /bin/sh -c {shlex.quote(command)} || exit $?")
        return "\n".join(lines) + "\n"

    def _base_image(self, client: Any) -> str:
        spec = self.spec
        logs = self.ctx.logs_dir
        return base_image(
            client, spec.base_image, spec.python_version, logs, spec.rebuild_base_image
        )

    def _run_options(
        self, repo: Path, network: bool, pythonpath: Sequence[str], writable: Sequence[Path]
    ) -> dict[str, Any]:
        run_args = self.spec.docker_specs.run_args
        options = {
            "working_dir": TESTBED,
            "environment": self._environment(pythonpath),
            "mounts": self._mounts(repo, writable),
            "read_only": True,
            "tmpfs": _TMPFS,
            # The only network besides none that works with any engine setup, ours
            # (--bridge=none) included; runs ask for it explicitly.
            "network_mode": "host" if network else "none",
            "mem_limit": sandbox.MEMORY_LIMIT,
            "pids_limit": PIDS_LIMIT,
            "init": True,  # reaps the tests' orphans and passes signals on
            "shm_size": run_args.shm_size,
            "cap_add": run_args.cap_add or None,
            "device_requests": self._device_requests(),
            "labels": {LABEL: self.key, **engine.owner_labels()},
        }
        return {name: value for name, value in options.items() if value is not None}

    def _environment(self, pythonpath: Sequence[str]) -> dict[str, str]:
        env = sandbox.clean_environment([f"{VENV}/bin"], HOME, self.ctx.run_env)
        env["VIRTUAL_ENV"] = VENV
        env.update(self.extra_env)  # the spec author's own -e: allowed, secrets or not
        if pythonpath:
            # Ahead of the editable install, as the local backend does.
            env["PYTHONPATH"] = ":".join(_in_testbed(directory) for directory in pythonpath)
        return env

    def _mounts(self, repo: Path, writable: Sequence[Path]) -> list[Any]:
        """The work tree at /testbed and the writable directories at their own paths."""
        mounts = [docker.types.Mount(TESTBED, str(repo.resolve()), type="bind")]
        shared = sorted({str(path.resolve()) for path in writable})
        mounts += [docker.types.Mount(path, path, type="bind") for path in shared]
        return [*mounts, *self.extra_mounts]

    def _device_requests(self) -> list[Any] | None:
        run_args = self.spec.docker_specs.run_args
        if run_args.cuda_visible_num is None:
            return None
        pool = self.ctx.gpu_ids[: run_args.cuda_visible_num]
        if not pool:
            raise UsageError(
                "docker_specs.run_args.cuda_visible_num is set: give --gpu-ids, e.g. 0,1"
            )
        count = min(run_args.number_once, len(pool))
        start = next(self._gpu_turns) * count  # round-robin over the pool, run by run
        ids = [str(pool[(start + i) % len(pool)]) for i in range(count)]
        return [docker.types.DeviceRequest(device_ids=ids, capabilities=[["gpu"]])]


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
        labels={LABEL: key, **engine.owner_labels()},
    )
    try:
        container.start()
        lines = engine.stream_logs(container, log, f"$ install into {name} (network host)\n")
        status = int(container.wait()["StatusCode"])
        outcome = "failed" if status else "installed"
        _append(log, f"# {outcome} after {time.monotonic() - started:.1f}s\n\n")
        if status:
            tail = [*lines[-3:], f"the install returned a non-zero code: {status}"]
            raise engine.failure(f"install into {name}", log, tail, lines)
        repository, _, version = (tag or "").rpartition(":")
        config = _commit_config(base_config, key)
        image = container.commit(repository=repository or None, tag=version or None, conf=config)
        return str(image.id)
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True)


def _commit_config(base_config: dict[str, Any], key: str) -> dict[str, Any]:
    # The base's configuration, not the container's: the install's command must not
    # become the image's, nor its variables (set in the script) reach the image.
    return {
        "Env": base_config.get("Env") or [],
        "Cmd": base_config.get("Cmd") or ["/bin/sh"],
        "Entrypoint": base_config.get("Entrypoint"),
        "WorkingDir": TESTBED,
        "Labels": {**(base_config.get("Labels") or {}), LABEL: key},
    }


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
