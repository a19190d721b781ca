"""What every vdi command shares: ``--uri``, ``--pool``, a libvirt session, and progress on stderr.

Each command takes ``--uri`` (default ``$HALLCLOUD_URI`` or ``qemu:///system``); backup commands take
``--pool`` (default ``$HALLCLOUD_BACKUP_POOL``), the storage tier's backup pool. Long copies print
their progress on stderr; :class:`vdi.exceptions.VdiError` becomes a one-line error and exit status 1.
"""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import click
import libvirt

from vdi import settings
from vdi.conn import DEFAULT_URI, connection
from vdi.exceptions import VdiError

__all__ = ["ProgressPrinter", "pool_option", "session", "sigterm_as_interrupt", "uri_option"]

uri_option = click.option(
    "--uri",
    default=settings.libvirt_uri,
    show_default=f"${settings.URI_ENV} or {DEFAULT_URI}",
    help=f"libvirt connection URI (env: {settings.URI_ENV})",
)


def _pool_given(ctx: click.Context, param: click.Parameter, value: str | None) -> str:
    # click does not check `required` against a default computed by a function
    if not value:
        raise click.MissingParameter(ctx=ctx, param=param)
    return value


pool_option = click.option(
    "--pool",
    "pool",
    default=settings.backup_pool,
    callback=_pool_given,
    show_default=f"${settings.BACKUP_POOL_ENV}",
    help=f"the backup pool of the storage tier (env: {settings.BACKUP_POOL_ENV}; required)",
)


def sigterm_as_interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextmanager
def session(uri: str) -> Iterator[libvirt.virConnect]:
    """A connection; vdi errors become click errors, SIGTERM unwinds like Ctrl-C (cleanup runs)."""
    previous = signal.signal(signal.SIGTERM, sigterm_as_interrupt)
    try:
        with connection(uri) as conn:
            yield conn
    except VdiError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        signal.signal(signal.SIGTERM, previous)


class ProgressPrinter:
    """Prints ``what: 42% (420/1000 MiB)`` on one stderr line per copy, plain messages on their own."""

    def __init__(self) -> None:
        self._current: str | None = None
        self._last = 0.0

    def __call__(self, what: str, done: int | None, total: int | None) -> None:
        if done is None:
            self._end_line()
            click.echo(f"  {what}", err=True)
            return
        if what != self._current:
            self._end_line()
            self._current = what
        mib = 1024 * 1024
        pct = f"{100 * done / total:3.0f}% " if total else ""
        text = f"  {what}: {pct}({done / mib:.0f}/{(total or done) / mib:.0f} MiB)"
        if sys.stderr.isatty():
            click.echo(f"\r{text}", err=True, nl=False)
        elif time.monotonic() - self._last > 2 or (total and done >= total):
            click.echo(text, err=True)
            self._last = time.monotonic()

    def _end_line(self) -> None:
        if self._current is not None and sys.stderr.isatty():
            click.echo("", err=True)
        self._current = None
