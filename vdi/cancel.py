"""Cancelling long vdi work from outside the thread that does it, and Ctrl-C for commands.

Two ways a long operation learns it must stop:

* In a command's main thread, SIGINT and SIGTERM raise :class:`KeyboardInterrupt` (see
  :func:`interruptible`), which unwinds through every ``try/finally`` that removes half-made objects.
* In a process whose work runs in other threads (the Pulumi dynamic providers serve gRPC calls from a
  thread pool), a signal cannot reach the working thread. :func:`request` sets a process-wide flag
  instead, and every wait vdi does in a loop (addresses, guest markers, copies) goes through
  :func:`sleep` or :func:`check`, which raise :class:`Interrupted` once the flag is set.

A process that inherited SIGINT as *ignored* (a job started in the background by a non-interactive
shell) would never see Ctrl-C: :func:`interruptible` installs handlers for both signals explicitly.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from types import FrameType

from vdi.exceptions import VdiError

__all__ = [
    "EXIT_CODES",
    "Interrupted",
    "busy",
    "check",
    "deferred",
    "install_flag_handlers",
    "interruptible",
    "is_requested",
    "request",
    "reset",
    "signal_of",
    "sleep",
]

EXIT_CODES: dict[int, int] = {int(signal.SIGINT): 130, int(signal.SIGTERM): 143}
"""The exit status of a command stopped by a signal (128 + the signal's number, as shells report)."""

_flag = threading.Event()
_signal: signal.Signals | None = None


class Interrupted(VdiError):
    """The operation was asked to stop (Ctrl-C, SIGTERM, or a cancelled job) and stopped."""

    def __init__(self, obj: str, signum: int | None = None) -> None:
        name = signal.Signals(signum).name if signum else "a cancel request"
        super().__init__(obj, f"interrupted by {name}")
        self.signum = signum


def request(signum: int | None = None) -> None:
    """Ask every vdi wait in this process to stop."""
    global _signal
    _signal = signal.Signals(signum) if signum else None
    _flag.set()


def reset() -> None:
    global _signal
    _signal = None
    _flag.clear()


def is_requested() -> bool:
    return _flag.is_set()


def check(obj: str) -> None:
    """Raise :class:`Interrupted` (naming ``obj``) if a stop was requested."""
    if _flag.is_set():
        raise Interrupted(obj, _signal)


def sleep(seconds: float, obj: str) -> None:
    """``time.sleep`` that returns early and raises :class:`Interrupted` when a stop is requested."""
    if _flag.wait(max(0.0, seconds)):
        raise Interrupted(obj, _signal)


_busy = 0
_busy_lock = threading.Lock()


@contextlib.contextmanager
def busy() -> Iterator[None]:
    """Mark work in progress: a process that exits on a stop request (:func:`install_flag_handlers`)
    waits for it to finish (it stops early through the flag, removing what it made)."""
    global _busy
    with _busy_lock:
        _busy += 1
    try:
        yield
    finally:
        with _busy_lock:
            _busy -= 1


def install_flag_handlers(*, exit_when_idle: float | None = None) -> None:
    """SIGINT and SIGTERM set the flag instead of raising (for processes that serve from threads).

    With ``exit_when_idle`` the process also ends once no :func:`busy` work is left (after that many
    seconds of settling, so a last reply can leave), or 10 s after the request at the latest.
    """

    def exit_when_done() -> None:
        assert exit_when_idle is not None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with _busy_lock:
                idle = _busy == 0
            if idle:
                time.sleep(exit_when_idle)
                with _busy_lock:
                    if _busy == 0:
                        break
            time.sleep(0.02)
        os._exit(0)

    def handler(signum: int, _frame: FrameType | None) -> None:
        first = not _flag.is_set()
        request(signum)
        if first and exit_when_idle is not None:
            threading.Thread(target=exit_when_done, name="exit-when-idle", daemon=True).start()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Within the block (cleanup after an interruption), SIGINT and SIGTERM do not interrupt: a second
    Ctrl-C must not leave the cleanup half done. They are remembered and raised when the block ends."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def remember(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)

    previous = {s: signal.signal(s, remember) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
    if received:
        raise _Stop(received[0])


class _Stop(KeyboardInterrupt):
    """KeyboardInterrupt that remembers which signal raised it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def signal_of(exc: BaseException) -> int:
    """The signal behind a KeyboardInterrupt (SIGINT unless :func:`interruptible` saw SIGTERM)."""
    return getattr(exc, "signum", None) or int(signal.SIGINT)


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM raise KeyboardInterrupt in the main thread (also when the
    process inherited them ignored) and set the cancel flag for other threads; restored afterwards.

    Use :func:`signal_of` on the caught KeyboardInterrupt for the exit code (:data:`EXIT_CODES`).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        request(signum)
        raise _Stop(signum)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
