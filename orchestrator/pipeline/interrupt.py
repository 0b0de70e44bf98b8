"""Ctrl-C and SIGTERM: recorded, and raised as ``KeyboardInterrupt`` in the main thread.

Python raises the interrupt wherever the main thread happens to be. If that is
a finalizer (a ``__del__``, a weakref callback, a generator being collected)
the exception is printed as "ignored" and lost, and the run would carry on to
exit 0. The record outlives such a loss: :func:`wait` raises it again between
items, and the CLI never reports success for a run that was interrupted.

The kernel may also hand the signal to a worker thread while the main thread
sleeps in a lock, which Python only notices when the lock is released (after
the current item, up to its whole timeout). :func:`wait` therefore waits in
short slices, so the interrupt is raised within one slice.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import wait as wait_any
from types import FrameType
from typing import TypeVar

T = TypeVar("T")

_SLICE = 0.5  # seconds between two looks at the record while waiting for a worker
_requested = threading.Event()


def install() -> None:
    """Record and raise on SIGTERM, and on SIGINT unless it was ignored when we started
    (a job started in the background by a shell must not die of the terminal's Ctrl-C)."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _record)
    signal.signal(signal.SIGTERM, _record)


def _record(signum: int, frame: FrameType | None) -> None:
    _requested.set()
    raise KeyboardInterrupt


def exit_on_signal(stop: Callable[[], None]) -> None:
    """From now on a signal calls ``stop``, which exits: the outcome is decided and the
    process is ending, where a raised interrupt would be dropped (an ``atexit`` call, the
    wait for threads at shutdown) and the exit status would stay 0."""

    def late(signum: int, frame: FrameType | None) -> None:
        _requested.set()
        stop()

    for signum in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(signum) is _record:
            signal.signal(signum, late)


def requested() -> bool:
    """Whether this process was asked to stop (even if the exception was lost on the way)."""
    return _requested.is_set()


def check() -> None:
    if _requested.is_set():
        raise KeyboardInterrupt


def wait(future: Future[T]) -> T:
    """The result of ``future``, raising ``KeyboardInterrupt`` within a slice of a stop."""
    while True:
        check()
        done, _ = wait_any([future], timeout=_SLICE)
        if done:
            return future.result()
