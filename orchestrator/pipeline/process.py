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
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from orchestrator.errors import CommandError, CommandTimeout

log = logging.getLogger("fbench.process")

_TAIL_CHARS = 2000
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
) -> CommandResult:
    """Run ``argv``; output (stdout and stderr together) is captured and logged.

    A timeout kills the whole process group, so test runners' children die too.
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
        text=True,
        errors="replace",
        start_new_session=True,
    )
    timed_out = False
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(process)
        output, _ = process.communicate()
    result = CommandResult(
        tuple(shown), process.returncode, output, time.monotonic() - started, timed_out
    )
    if log_path is not None:
        write_command_log(log_path, result, cwd)
    if check and not result.ok:
        raise _error_for(result, log_path)
    return result


def _kill_group(process: subprocess.Popen[str]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def write_command_log(path: Path, result: CommandResult, cwd: Path | str | None) -> None:
    """Append one command's entry to a log: command line, where, output, status."""
    path.parent.mkdir(parents=True, exist_ok=True)
    status = "timed out" if result.timed_out else f"exit {result.returncode}"
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
