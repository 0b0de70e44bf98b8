"""The one helper that runs external commands.

Every command is logged with its command line, gets a timeout, has its output
captured (and kept in a log file when one is given), and raises a typed error
when asked to check. Commands are argument lists, never shell strings built
from user input; spec commands that are shell text by nature (``install``,
``pre_install``) are run through ``sh -c`` explicitly by their caller.
"""

from __future__ import annotations

import logging
import os
import selectors
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from orchestrator.errors import CommandError, CommandTimeout

log = logging.getLogger("fbench.process")

_TAIL_CHARS = 2000
# After the command exits, how long a process it left may hold the output pipe
# before it is killed and the output taken as it is.
_DRAIN_SECONDS = 2.0
# Children run in sessions of their own (so a timeout can kill a whole tree),
# which also means a killed fbench would leave them running, racing the run
# that resumes. setpriv asks the kernel to signal the child when fbench dies,
# but that reaches one process, not its children (pip under `sh -c ...`), so
# the child is a small shell that then kills its whole process group.
_GUARD = 'trap "kill -KILL 0" TERM; "$@" & wait $!'
_DIE_WITH_US = (
    ["setpriv", "--pdeathsig", "TERM", "--", "sh", "-c", _GUARD, "fbench-guard"]
    if shutil.which("setpriv")
    else []
)


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int
    output: str
    duration: float
    timed_out: bool = False
    # Killed after its work was done (``finished`` said so) and the grace ran out.
    stopped_after_grace: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def tail(self, chars: int = _TAIL_CHARS) -> str:
        return self.output[-chars:]


def run_command(
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    log_path: Path | None = None,
    check: bool = False,
    finished: Callable[[], bool] | None = None,
    grace: float = 5.0,
) -> CommandResult:
    """Run ``argv``; output (stdout and stderr together) is captured and logged.

    A timeout kills the whole process group, so test runners' children die too,
    and a child that still holds the output pipe cannot keep us waiting. Once
    ``finished()`` is true (pytest wrote its session-end record) the command
    gets ``grace`` seconds to exit, then is killed the same way.
    """
    shown = [str(arg) for arg in argv]
    command = [*_DIE_WITH_US, *shown]
    log.debug("run %s (cwd=%s, timeout=%s)", shlex.join(shown), cwd, timeout)
    started = time.monotonic()
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=dict(env) if env is not None else None,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    watch = _Watch(process, timeout, finished, grace)
    output = watch.collect()
    result = CommandResult(
        tuple(shown),
        process.returncode,
        output.decode(errors="replace"),
        time.monotonic() - started,
        watch.timed_out,
        watch.stopped_after_grace,
    )
    if log_path is not None:
        write_command_log(log_path, result, cwd)
    if check and not result.ok:
        raise _error_for(result, log_path)
    return result


class _Watch:
    """Reads a command's output until it ends, times out, or outstays its grace."""

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        timeout: float | None,
        finished: Callable[[], bool] | None,
        grace: float,
    ):
        self.process = process
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.finished = finished
        self.grace = grace
        self.stop_at: float | None = None  # set once the command is done or finished
        self.timed_out = self.stopped_after_grace = self.ended = False
        self.chunks: list[bytes] = []

    def collect(self) -> bytes:
        assert self.process.stdout is not None
        stream = self.process.stdout
        with selectors.DefaultSelector() as selector:
            selector.register(stream, selectors.EVENT_READ)
            while not self._over():
                if selector.select(0.2) and not self._read(stream.fileno()):
                    self.ended = True  # end of output: every holder of the pipe is gone
                    break
                self._note_the_end()
        if not self.ended:  # the command, or a child holding the pipe, is still there
            _kill_group(self.process)
        self.process.wait()
        os.set_blocking(stream.fileno(), False)
        while self._read(stream.fileno()):  # what was written before the kill
            pass
        stream.close()
        return b"".join(self.chunks)

    def _read(self, fd: int) -> bool:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return False
        self.chunks.append(data)
        return bool(data)

    def _over(self) -> bool:
        now = time.monotonic()
        if self.deadline is not None and now >= self.deadline and self.process.poll() is None:
            self.timed_out = True
            return True
        if self.stop_at is not None and now >= self.stop_at:
            self.stopped_after_grace = self.process.poll() is None
            return True
        return False

    def _note_the_end(self) -> None:
        if self.stop_at is not None:
            return
        if self.process.poll() is not None:
            self.stop_at = time.monotonic() + _DRAIN_SECONDS
        elif self.finished is not None and self.finished():
            self.stop_at = time.monotonic() + self.grace


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def write_command_log(path: Path, result: CommandResult, cwd: Path | str | None) -> None:
    """Append one command's entry to a log: command line, where, output, status."""
    path.parent.mkdir(parents=True, exist_ok=True)
    status = "timed out" if result.timed_out else f"exit {result.returncode}"
    if result.stopped_after_grace:
        status = "killed: still running after its work was done"
    with path.open("a", encoding="utf-8") as handle:
        handle.write(f"$ {shlex.join(result.argv)}\n# cwd: {cwd}\n")
        handle.write(result.output)
        handle.write(f"\n# {status} after {result.duration:.1f}s\n\n")


def _error_for(result: CommandResult, log_path: Path | None) -> CommandError:
    where = f" (log: {log_path})" if log_path else ""
    name = shlex.join(result.argv[:3])
    if result.timed_out:
        return CommandTimeout(
            f"{name} timed out after {result.duration:.0f}s{where}", None, result.output
        )
    message = f"{name} failed with exit {result.returncode}{where}: {result.tail(300).strip()}"
    return CommandError(message, result.returncode, result.output)
