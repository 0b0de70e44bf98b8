"""What every command of an untrusted repository runs inside.

- A view of the machine (:class:`View`): the work tree and the command's
  output directories writable, a private ``/tmp`` (``HOME`` is in it), the
  environment, the interpreter and the system directories read-only, and
  nothing else: no user's home, no cache, no other run, no ``/work``.
- Its own PID namespace (``/proc`` shows only its processes, and when the
  command ends or is killed every process left in it dies), its own network
  namespace with loopback up and no route out.
- bubblewrap builds it; without bubblewrap, ``unshare`` and
  ``sandbox_init.py`` build the same view; where neither works the command is
  refused (:class:`SandboxUnavailable`) unless ``--no-sandbox`` was given.
- Limits: ``prlimit`` caps address space and CPU time; the number of
  processes is capped by a pids cgroup (root is exempt from ``RLIMIT_NPROC``)
  or, for other users, by ``prlimit --nproc``.
- A clean environment: only the variables a test run needs; nothing of ours,
  so no ``*_API_KEY`` or ``*_TOKEN`` can reach the project's code.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from orchestrator.errors import UsageError

MEMORY_LIMIT = 8 * 1024**3  # bytes of address space per command
PROCESS_LIMIT = 1024  # processes and threads at once, per command
HOME_INSIDE = "/tmp/home"  # HOME in the sandbox: in its private /tmp
# What a command sees of the machine besides its view: programs and their libraries.
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt")
INSTALL_HINT = "install bubblewrap (apt-get install bubblewrap) or pass --no-sandbox"
_INIT = Path(__file__).with_name("sandbox_init.py")
_PROBE_ENV = {"PATH": "/usr/bin:/bin"}  # what a sandboxed command sees of PATH
_SAFE_VARIABLES = ("LANG", "LC_ALL", "TZ")
# Fixed string hashing: a suite that parametrizes over a set (isodate's TEST_CASES)
# gets ids such as ``expected13`` from the set's order, which the seed decides. The
# runner, the traced runs and grading must all see the same ids.
HASH_SEED = "0"
# Installing needs the network, and with it the machine's proxy and CA settings
# and the package tools' own configuration; test runs get none of these.
_NETWORK_VARIABLES = (
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
)
_NETWORK_PREFIXES = ("PIP_", "UV_")
_SECRET_MARKERS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "CREDENTIAL")


class SandboxUnavailable(UsageError):
    """Neither bubblewrap nor unshare can confine the tests here."""


@dataclass(frozen=True)
class View:
    """What a sandboxed command sees: the rest of the machine is not there."""

    repo: Path
    readable: tuple[Path, ...] = ()
    writable: tuple[Path, ...] = ()
    network: bool = False
    mode: str = "bwrap"  # or "unshare"

    def plan(self) -> dict[str, object]:
        """The view as data, for ``sandbox_init.py``."""
        return {
            "system": [d for d in SYSTEM_DIRS if os.path.lexists(d)],
            "readable": [str(p) for p in self.readable],
            "writable": [str(p) for p in (self.repo, *self.writable)],
            "home": HOME_INSIDE,
            "loopback": not self.network,
        }


def sandbox_mode() -> str:
    """``bwrap``, or ``unshare`` where bubblewrap is missing; raises when neither works."""
    return _mode_for(os.environ.get("PATH", ""))


@functools.cache
def _mode_for(path: str) -> str:
    # Probed once per PATH by confining a real command: a binary that is there
    # but cannot make namespaces (a container without the privilege) is no sandbox.
    from orchestrator.pipeline.process import run_command

    for mode in ("bwrap", "unshare"):
        if shutil.which(mode, path=path):
            with (
                tempfile.TemporaryDirectory(prefix="fbench-probe-") as repo,
                confined(View(Path(repo), mode=mode), None) as prefix,
            ):
                if run_command([*prefix, "true"], env=_PROBE_ENV, timeout=60).ok:
                    return mode
    raise SandboxUnavailable(f"no sandbox for the tests on this machine: {INSTALL_HINT}")


def interpreter_prefix(venv: Path) -> Path | None:
    """The installation a virtualenv's interpreter comes from (``home`` in ``pyvenv.cfg``)."""
    config = venv / "pyvenv.cfg"
    if not config.is_file():
        return None
    for line in config.read_text(encoding="utf-8").splitlines():
        name, _, value = line.partition("=")
        if name.strip() == "home":
            prefix = Path(value.strip()).resolve().parent
            return prefix if prefix != Path("/") else None
    return None


@contextlib.contextmanager
def confined(view: View, cpu_seconds: float | None) -> Iterator[list[str]]:
    """The command prefix that runs a command in ``view``, within the limits."""
    with _process_limit() as limit, _new_root(view) as root:
        if view.mode == "bwrap":
            prefix = ["bwrap", *_bwrap_args(view), "--"]
        else:
            plan = json.dumps({**view.plan(), "root": str(root)})
            prefix = [*_unshare_args(view), sys.executable, "-I", "-S", str(_INIT), plan, "--"]
        yield [*limit, *prefix, *limits_prefix(cpu_seconds)]


def _bwrap_args(view: View) -> list[str]:
    args = ["--die-with-parent", "--unshare-pid", "--unshare-ipc", "--unshare-uts"]
    args += [] if view.network else ["--unshare-net"]
    for directory in SYSTEM_DIRS:
        if os.path.islink(directory):  # merged /usr: /bin -> usr/bin
            args += ["--symlink", os.readlink(directory), directory]
        elif os.path.isdir(directory):
            args += ["--ro-bind", directory, directory]
    args += ["--dev", "/dev", "--tmpfs", "/dev/shm", "--proc", "/proc"]
    args += ["--tmpfs", "/tmp", "--dir", HOME_INSIDE]
    for path in view.readable:
        args += ["--ro-bind", str(path), str(path)]
    for path in (view.repo, *view.writable):
        args += ["--bind", str(path), str(path)]
    # The root's own directories (made for mount points, such as /root for an
    # interpreter under /root/.pyenv) are read-only too; the mounts keep their modes.
    return [*args, "--remount-ro", "/", "--chdir", str(view.repo)]


def _unshare_args(view: View) -> list[str]:
    # --kill-child: when unshare dies (a timeout kills it), so does the namespace's init.
    user = [] if os.geteuid() == 0 else ["--user", "--map-root-user"]
    namespaces = ["--mount", "--pid", "--fork", "--kill-child", "--ipc", "--uts"]
    return ["unshare", *user, *namespaces, *([] if view.network else ["--net"]), "--"]


@contextlib.contextmanager
def _new_root(view: View) -> Iterator[Path | None]:
    # The unshare path mounts its new root on an empty directory of ours; the
    # mounts live in the command's mount namespace, so the directory stays empty here.
    if view.mode == "bwrap":
        yield None
        return
    root = Path(tempfile.mkdtemp(prefix="fbench-root-"))
    try:
        yield root
    finally:
        with contextlib.suppress(OSError):
            root.rmdir()


def limits_prefix(cpu_seconds: float | None) -> list[str]:
    found = shutil.which("prlimit")
    if not found:
        return []
    # Its real path: the one a sandbox, which sees only the system's directories, has.
    prefix = [os.path.realpath(found), f"--as={MEMORY_LIMIT}"]
    if cpu_seconds is not None:
        prefix.append(f"--cpu={int(cpu_seconds) + 1}")
    if os.geteuid() != 0:  # root is exempt from RLIMIT_NPROC; a cgroup bounds it
        prefix.append(f"--nproc={_user_processes() + PROCESS_LIMIT}")
    return [*prefix, "--"]


def _user_processes() -> int:
    # RLIMIT_NPROC counts every process of the user, not only the command's.
    uid = os.getuid()
    return sum(1 for p in Path("/proc").glob("[0-9]*") if _owner(p) == uid)


def _owner(path: Path) -> int | None:
    try:
        return path.stat().st_uid
    except OSError:
        return None


@contextlib.contextmanager
def _process_limit() -> Iterator[list[str]]:
    """A prefix that puts the command in a fresh pids cgroup, emptied and removed after."""
    parent = _pids_hierarchy() if os.geteuid() == 0 else None
    if parent is None:
        yield []
        return
    group = Path(tempfile.mkdtemp(prefix="fbench-", dir=parent))
    try:
        (group / "pids.max").write_text(f"{PROCESS_LIMIT}\n")
        yield ["sh", "-c", 'echo $$ > "$0" && exec "$@"', str(group / "cgroup.procs")]
    finally:
        _empty_and_remove(group)


def _pids_hierarchy() -> Path | None:
    """Where a pids cgroup can be made: cgroup v1's pids hierarchy, or v2's root."""
    v1 = Path("/sys/fs/cgroup/pids")
    if (v1 / "cgroup.procs").is_file() and os.access(v1, os.W_OK):
        return v1
    v2 = Path("/sys/fs/cgroup")
    control = v2 / "cgroup.subtree_control"
    if control.is_file() and "pids" in control.read_text().split() and os.access(v2, os.W_OK):
        return v2
    return None


def _empty_and_remove(group: Path) -> None:
    # Whatever is left (the PID namespace's end normally took it all) is killed.
    for _ in range(50):
        with contextlib.suppress(OSError):
            group.rmdir()
            return
        with contextlib.suppress(OSError):
            for pid in (group / "cgroup.procs").read_text().split():
                os.kill(int(pid), signal.SIGKILL)
        time.sleep(0.1)


def clean_environment(
    path_head: list[str], home: str, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Variables for a command of the project: PATH, HOME, locale, and ``extra``."""
    env = {name: os.environ[name] for name in _SAFE_VARIABLES if name in os.environ}
    env.setdefault("LANG", "C.UTF-8")
    env["PYTHONHASHSEED"] = HASH_SEED  # the spec's run variables may still set another
    env["PATH"] = os.pathsep.join([*path_head, "/usr/local/bin", "/usr/bin", "/bin"])
    env["HOME"] = home
    for name, value in (extra or {}).items():
        if not is_secret(name):
            env[name] = value
    return env


def install_variables() -> dict[str, str]:
    """The machine's network and package-tool settings, minus anything secret."""
    return {
        name: value
        for name, value in os.environ.items()
        if (name in _NETWORK_VARIABLES or name.startswith(_NETWORK_PREFIXES))
        and not is_secret(name)
    }


def is_secret(name: str) -> bool:
    upper = name.upper()
    return any(marker in upper for marker in _SECRET_MARKERS)
