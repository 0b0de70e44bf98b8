"""Ctrl-C is never lost: an interrupted ``fbench`` exits 130, whatever the main thread was doing.

Each test runs the real entry point in a child process and sends it a real
signal at the awkward moment: while a finalizer runs (Python prints the
KeyboardInterrupt as "ignored" and drops it), while the main thread waits on
a worker that holds it for a long time, and as the command returns.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

# A command that "finishes": the interrupt arrives inside a __del__, where Python
# reports and drops it, and the command then returns normally.
LOST_IN_FINALIZER = """
import gc, os, signal, time
import click
from orchestrator.cli import cli, main

class Slow:
    def __del__(self):
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000):  # the handler runs here, in the finalizer
            time.sleep(0.001)

@cli.command("probe")
def probe():
    Slow()
    gc.collect()
    print("the command returned")

main()
"""

# The interrupt arrives as the process ends (an atexit call), where Python drops it too.
AT_EXIT = """
import atexit, os, signal, time
from orchestrator.cli import cli, main

def late():
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(0.5)

@cli.command("probe")
def probe():
    atexit.register(late)
    print("the command returned")

main()
"""

# A stage item that takes a minute; the signal goes to the process while the main
# thread waits for it. The items queued after it must not run.
LONG_ITEM = """
import signal, sys, time
from concurrent.futures import ThreadPoolExecutor
import click
from orchestrator.cli import cli, main
from orchestrator.pipeline import interrupt

@cli.command("probe")
@click.argument("taken_by", default="main")
def probe(taken_by):
    pool = ThreadPoolExecutor(1)
    futures = [pool.submit(time.sleep, 60) for _ in range(3)]
    if taken_by == "worker":  # the kernel can only hand the signal to the worker
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    print("waiting", flush=True)
    try:
        for future in futures:
            interrupt.wait(future)
    except KeyboardInterrupt:
        pool.shutdown(wait=False, cancel_futures=True)
        raise

main()
"""


def run_probe(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, "probe", *args],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def test_an_interrupt_dropped_in_a_finalizer_still_exits_130() -> None:
    done = run_probe(LOST_IN_FINALIZER)
    assert "KeyboardInterrupt" in done.stderr  # Python did drop it ("Exception ignored")
    assert "the command returned" in done.stdout
    assert done.returncode == 130, done.stderr
    assert done.stderr.rstrip().endswith("fbench: interrupted")


def test_an_interrupt_while_the_process_ends_still_exits_130() -> None:
    done = run_probe(AT_EXIT)
    assert "the command returned" in done.stdout
    assert done.returncode == 130, done.stderr
    assert done.stderr.rstrip().endswith("fbench: interrupted")


@pytest.mark.parametrize("taken_by", ["main", "worker"])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_while_waiting_on_a_long_item_stops_without_running_the_queue(
    signum: int, taken_by: str
) -> None:
    """Taken by the worker thread, the signal does not wake the main thread's wait."""
    child = subprocess.Popen(
        [sys.executable, "-c", LONG_ITEM, "probe", taken_by],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert child.stdout is not None
    assert child.stdout.readline() == "waiting\n"
    sent = time.monotonic()
    child.send_signal(signum)
    _, stderr = child.communicate(timeout=120)
    assert child.returncode == 130, stderr
    assert "fbench: interrupted" in stderr
    # Not after the item in hand (60 s) nor the queue (three of them): at once.
    assert time.monotonic() - sent < 50


def test_a_background_job_keeps_ctrl_c_ignored() -> None:
    """A shell starts background jobs with SIGINT ignored; fbench must not undo that."""
    child = subprocess.Popen(
        [sys.executable, "-c", LONG_ITEM, "probe"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    assert child.stdout is not None
    assert child.stdout.readline() == "waiting\n"
    child.send_signal(signal.SIGINT)
    with pytest.raises(subprocess.TimeoutExpired):
        child.wait(timeout=2)
    child.send_signal(signal.SIGTERM)  # SIGTERM still stops it
    child.communicate(timeout=60)
    assert child.returncode == 130
