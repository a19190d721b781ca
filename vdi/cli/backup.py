"""``hall backup verify``: restore drills of backups in the storage tier's backup pool."""

from __future__ import annotations

import click

from vdi.backup.store import desktop_of
from vdi.cli.common import (
    ProgressPrinter,
    desktop_uri_option,
    pool_option,
    resolve_pool,
    resolve_uri,
    session,
)

__all__ = ["backup"]


@click.group(help="Backups: restore drills.")
def backup() -> None:
    pass


@backup.command("verify", help="Restore drill: restore BACKUP into a scratch desktop, boot it, remove it.")
@click.argument("backup_id")
@pool_option
@click.option("--expect", help="console text that proves the guest is up (default: GUEST-READY <arch>)")
@click.option("--timeout", default=300.0, show_default=True, help="seconds to wait for it")
@desktop_uri_option
def verify_cmd(backup_id: str, pool: str | None, expect: str | None, timeout: float, uri: str | None) -> None:
    from vdi.backup import verify_backup

    desktop = desktop_of(backup_id)
    pool = resolve_pool(pool, desktop)
    with session(resolve_uri(uri, desktop), on_interrupt="the scratch desktop was removed") as conn:
        result = verify_backup(
            conn, pool, backup_id, expect=expect, timeout=timeout, progress=ProgressPrinter()
        )
    if not result.ok:
        raise click.ClickException(
            f"restore drill of {backup_id} FAILED after {result.seconds:.1f} s: {result.error}"
        )
    marker = f", disk marker {result.marker}" if result.marker else ""
    click.echo(f"restore drill of {backup_id} passed in {result.seconds:.1f} s{marker}")
