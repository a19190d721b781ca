"""``hall desktop ...``: one desktop's snapshots, instant restore, backups, restore from backup, reset.

Options shared with the other vdi commands (``--uri``, ``--pool``) and the progress printer are in
:mod:`vdi.cli.common`.
"""

from __future__ import annotations

import click

from vdi.cli.common import (
    ProgressPrinter,
    desktop_uri_option,
    pool_option,
    resolve_pool,
    resolve_uri,
    session,
)
from vdi.exceptions import VdiError

__all__ = ["desktop"]


@click.group(help="One desktop: snapshots, instant restore, backups, restore from backup, reset.")
def desktop() -> None:
    pass


@desktop.command("snapshot", help="Take a snapshot of desktop NAME (running or stopped).")
@click.argument("name")
@click.option("--snapshot", "snap", help="snapshot name (default manual-<UTC time>)")
@click.option("--description")
@click.option("--disk-only", is_flag=True, help="UEFI desktops: leave the memory out (quiesced if possible)")
@click.option("--no-quiesce", is_flag=True, help="do not freeze file systems through the guest agent")
@desktop_uri_option
def snapshot_cmd(
    name: str, snap: str | None, description: str | None, disk_only: bool, no_quiesce: bool, uri: str
) -> None:
    from vdi.snapshots import create_snapshot

    with session(resolve_uri(uri, name)) as conn:
        result = create_snapshot(
            conn, name, snap, description=description, memory=not disk_only, quiesce=not no_quiesce
        )
    info = result.info
    for note in result.notes:
        click.echo(f"  note: {note}")
    click.echo(
        f"snapshot {info.name} of {name}: {info.kind}, {'disk+memory' if info.with_memory else 'disk'}, "
        f"{result.seconds:.1f} s"
    )


@desktop.command("snapshots", help="List the snapshots of desktop NAME, oldest first.")
@click.argument("name")
@desktop_uri_option
def snapshots_cmd(name: str, uri: str | None) -> None:
    from vdi.snapshots import list_snapshots

    with session(resolve_uri(uri, name)) as conn:
        infos = list_snapshots(conn, name)
    if not infos:
        click.echo(f"{name} has no snapshots")
        return
    click.echo(f"{'NAME':32} {'CREATED (UTC)':20} {'KIND':9} {'CONTENT':12} STATE")
    for i in infos:
        content = "disk+memory" if i.with_memory else "disk"
        mark = " (current)" if i.current else ""
        click.echo(f"{i.name:32} {i.created:%Y-%m-%d %H:%M:%S}  {i.kind:9} {content:12} {i.state}{mark}")


@desktop.command("restore", help="Instant restore: revert desktop NAME to SNAPSHOT (discards changes since).")
@click.argument("name")
@click.argument("snapshot")
@click.option(
    "--running/--stopped",
    "running",
    default=None,
    help="state after the revert (default: a running desktop stays running)",
)
@desktop_uri_option
def restore_cmd(name: str, snapshot: str, running: bool | None, uri: str | None) -> None:
    from vdi.snapshots import revert_snapshot

    with session(resolve_uri(uri, name)) as conn:
        result = revert_snapshot(conn, name, snapshot, running=running)
    state = "running" if result.running else "stopped"
    click.echo(f"{name} reverted to {snapshot} in {result.seconds:.1f} s ({state})")


@desktop.command("delete-snapshot", help="Delete SNAPSHOT of desktop NAME (external chains are committed).")
@click.argument("name")
@click.argument("snapshot")
@desktop_uri_option
def delete_snapshot_cmd(name: str, snapshot: str, uri: str | None) -> None:
    from vdi.snapshots import delete_snapshot

    with session(resolve_uri(uri, name)) as conn:
        delete_snapshot(conn, name, snapshot)
    click.echo(f"deleted snapshot {snapshot} of {name}")


@desktop.command("backup", help="Back up desktop NAME into the backup pool (sha256 manifest written last).")
@click.argument("name")
@pool_option
@click.option("--no-quiesce", is_flag=True, help="do not freeze file systems through the guest agent")
@desktop_uri_option
def backup_cmd(name: str, pool: str | None, no_quiesce: bool, uri: str | None) -> None:
    from vdi.backup import create_backup

    pool = resolve_pool(pool, name)
    with session(resolve_uri(uri, name), on_interrupt="the partial backup was removed") as conn:
        manifest = create_backup(conn, name, pool, quiesce=not no_quiesce, progress=ProgressPrinter())
    for note in manifest.notes:
        click.echo(f"  note: {note}")
    size = sum(f.size for f in manifest.files)
    click.echo(
        f"backup {manifest.id}: {len(manifest.files)} disk(s), {size / 2**20:.0f} MiB, {manifest.mode}"
    )


@desktop.command("backups", help="List the backups of desktop NAME in the backup pool.")
@click.argument("name")
@pool_option
@desktop_uri_option
def backups_cmd(name: str, pool: str | None, uri: str | None) -> None:
    from vdi.backup import list_backups

    pool = resolve_pool(pool, name)
    with session(resolve_uri(uri, name)) as conn:
        entries = list_backups(conn, pool, name)
    if not entries:
        click.echo(f"{name} has no backups in pool {pool}")
        return
    for e in entries:
        if e.complete and e.manifest:
            size = sum(f.size for f in e.manifest.files)
            click.echo(f"{e.id}  {e.manifest.origin:6} {e.manifest.mode:7} {size / 2**20:7.0f} MiB")
        else:
            click.echo(f"{e.id}  INCOMPLETE: {e.problem}")


@desktop.command(
    "restore-backup", help="Restore desktop NAME from BACKUP (default: its newest complete backup)."
)
@click.argument("name")
@click.argument("backup_id", required=False)
@pool_option
@click.option("--to", "target", help="restore into a new desktop of this name instead")
@click.option("--target-pool", help="pool for a new desktop's disks (default: the original disks' pool)")
@click.option("--start/--no-start", default=None, help="default: running again if it was running")
@desktop_uri_option
def restore_backup_cmd(
    name: str,
    backup_id: str | None,
    pool: str | None,
    target: str | None,
    target_pool: str | None,
    start: bool | None,
    uri: str | None,
) -> None:
    from vdi.backup import list_backups, restore_backup

    pool = resolve_pool(pool, name)
    with session(resolve_uri(uri, name), on_interrupt="what the restore had copied was removed") as conn:
        if backup_id is None:
            complete = [e for e in list_backups(conn, pool, name) if e.complete]
            if not complete:
                raise VdiError(
                    f"desktop {name}",
                    f"has no complete backup in pool {pool}",
                    f"back it up first (`hall desktop backup {name} --pool {pool}`)",
                )
            backup_id = complete[-1].id
        result = restore_backup(
            conn,
            pool,
            backup_id,
            target=target,
            target_pool=target_pool,
            start=start,
            progress=ProgressPrinter(),
        )
    extra = f"; removed snapshots: {', '.join(result.removed_snapshots)}" if result.removed_snapshots else ""
    click.echo(
        f"restored {result.desktop} from {result.backup} in {result.seconds:.1f} s "
        f"({'running' if result.running else 'stopped'}){extra}"
    )


@desktop.command("reset", help="Re-create desktop NAME's disk as a fresh linked clone of its golden image.")
@click.argument("name")
@click.option("--golden", help="golden volume (POOL/VOLUME); default: the one the desktop was cloned from")
@click.option(
    "--yes", is_flag=True, help="do not ask: everything on the disk and all snapshots are discarded"
)
@desktop_uri_option
def reset_cmd(name: str, golden: str | None, yes: bool, uri: str | None) -> None:
    from vdi.recovery import reset_desktop

    if not yes:
        click.confirm(f"discard everything on {name}'s disk and all its snapshots?", abort=True)
    with session(resolve_uri(uri, name), on_interrupt="stopped") as conn:
        result = reset_desktop(conn, name, golden=golden, progress=lambda m: click.echo(f"  {m}", err=True))
    click.echo(f"reset {name} from {result.golden}" + (" and started it" if result.restarted else ""))
