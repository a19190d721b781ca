"""What every vdi command shares: ``--uri``, ``--pool``, defaults from the hall stack, a libvirt session
that Ctrl-C stops cleanly, and progress on stderr.

A command that acts on one desktop takes what the desktop's hall stack knows unless told otherwise: its
host's URI and the backup pool of its snapshot policy. vdi knows nothing of stacks: the ``hall`` shell
names the function that looks a desktop up (:data:`DEFAULTS_PROVIDER`, ``"module:function"``, called
with the desktop's name, returning :class:`DesktopDefaults` or None). Then ``$HALLCLOUD_URI`` /
``$HALLCLOUD_BACKUP_POOL``, then ``qemu:///system``.

:func:`session` runs a command's work with SIGINT and SIGTERM turned into a clean stop: the operation's
own ``finally`` blocks remove what it made, then the command says so and exits 130 (SIGINT) or 143
(SIGTERM). :class:`vdi.exceptions.VdiError` becomes a one-line error and exit status 1.
"""

from __future__ import annotations

import importlib
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import click
import libvirt

from vdi import settings
from vdi.cancel import EXIT_CODES, interruptible, signal_of
from vdi.conn import DEFAULT_URI, connection
from vdi.exceptions import VdiError

__all__ = [
    "DEFAULTS_PROVIDER",
    "DesktopDefaults",
    "ProgressPrinter",
    "desktop_defaults",
    "desktop_uri_option",
    "pool_option",
    "resolve_pool",
    "resolve_uri",
    "session",
    "uri_option",
]

uri_option = click.option(
    "--uri",
    default=settings.libvirt_uri,
    show_default=f"${settings.URI_ENV} or {DEFAULT_URI}",
    help=f"libvirt connection URI (env: {settings.URI_ENV})",
)
desktop_uri_option = click.option(
    "--uri",
    default=None,
    help=f"libvirt connection URI (default: the desktop's host in its hall stack, else ${settings.URI_ENV} "
    f"or {DEFAULT_URI})",
)
pool_option = click.option(
    "--pool",
    "pool",
    default=None,
    help="the storage tier's backup pool (default: the backup pool of the desktop's snapshot policy in its "
    f"hall stack, else ${settings.BACKUP_POOL_ENV})",
)


@dataclass(frozen=True)
class DesktopDefaults:
    """What a desktop's hall stack says about it."""

    source: str
    """Where the defaults come from, for messages (``stack demo``)."""
    uri: str | None = None
    backup_pool: str | None = None


DEFAULTS_PROVIDER: str | None = None
"""``"module:function"`` looking a desktop up in the hall stacks; set by the ``hall`` shell."""


def desktop_defaults(desktop: str) -> DesktopDefaults | None:
    """What the hall stacks know about ``desktop`` (None without a provider or a stack that has it)."""
    if not DEFAULTS_PROVIDER:
        return None
    module, _, attr = DEFAULTS_PROVIDER.partition(":")
    lookup: Callable[[str], DesktopDefaults | None] = getattr(importlib.import_module(module), attr)
    return lookup(desktop)


def resolve_uri(uri: str | None, desktop: str | None) -> str:
    """``--uri`` if given, else the desktop's host in its stack, else ``$HALLCLOUD_URI`` / the default."""
    if uri:
        return uri
    found = desktop_defaults(desktop) if desktop else None
    return (found.uri if found else None) or settings.libvirt_uri()


def resolve_pool(pool: str | None, desktop: str) -> str:
    """``--pool`` if given, else the desktop's policy's backup pool in its stack, else the environment."""
    if pool:
        return pool
    found = desktop_defaults(desktop)
    if found is not None and found.backup_pool:
        return found.backup_pool
    from_env = settings.backup_pool()
    if from_env:
        return from_env
    where = f"{found.source} gives desktop {desktop} no backup pool" if found else "no hall stack has it"
    raise click.UsageError(
        f"desktop {desktop}: which backup pool? {where}. Fix: pass --pool POOL, set "
        f"${settings.BACKUP_POOL_ENV}, or give the window a snapshot policy with a backup_pool in its stack"
    )


@contextmanager
def session(uri: str, *, on_interrupt: str = "stopped") -> Iterator[libvirt.virConnect]:
    """A connection for one command's work. vdi errors become click errors; Ctrl-C or SIGTERM unwind the
    work (its cleanup runs), then the command prints ``interrupted; <on_interrupt>`` and exits 130/143."""
    try:
        with interruptible(), connection(uri) as conn:
            yield conn
    except VdiError as exc:
        raise click.ClickException(str(exc)) from exc
    except KeyboardInterrupt as exc:
        click.echo(f"interrupted; {on_interrupt}", err=True)
        sys.exit(EXIT_CODES.get(signal_of(exc), 130))


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
