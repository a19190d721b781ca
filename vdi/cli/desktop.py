"""``hall desktop ...``, ``hall backup verify`` and ``hall snapshots ...``: snapshots, backups, restores.

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
from pathlib import Path
from types import FrameType
from typing import Any

import click
import libvirt

from vdi.conn import DEFAULT_URI, connection
from vdi.exceptions import VdiError

uri_option = click.option(
    "--uri",
    default=DEFAULT_URI,
    envvar="HALLCLOUD_URI",
    show_default=True,
    help="libvirt connection URI (env: HALLCLOUD_URI)",
)
pool_option = click.option(
    "--pool",
    "pool",
    envvar="HALLCLOUD_BACKUP_POOL",
    required=True,
    help="the backup pool of the storage tier (env: HALLCLOUD_BACKUP_POOL)",
)


def _sigterm_as_interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextmanager
def _session(uri: str) -> Iterator[libvirt.virConnect]:
    """A connection; vdi errors become click errors, SIGTERM unwinds like Ctrl-C (cleanup runs)."""
    previous = signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
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


# -- hall desktop -------------------------------------------------------------------------------------


@click.group(help="One desktop: snapshots, instant restore, backups, restore from backup, reset.")
def desktop() -> None:
    pass


@desktop.command("snapshot", help="Take a snapshot of desktop NAME (running or stopped).")
@click.argument("name")
@click.option("--snapshot", "snap", help="snapshot name (default manual-<UTC time>)")
@click.option("--description")
@click.option("--disk-only", is_flag=True, help="UEFI desktops: leave the memory out (quiesced if possible)")
@click.option("--no-quiesce", is_flag=True, help="do not freeze file systems through the guest agent")
@uri_option
def snapshot_cmd(
    name: str, snap: str | None, description: str | None, disk_only: bool, no_quiesce: bool, uri: str
) -> None:
    from vdi.snapshots import create_snapshot

    with _session(uri) as conn:
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
@uri_option
def snapshots_cmd(name: str, uri: str) -> None:
    from vdi.snapshots import list_snapshots

    with _session(uri) as conn:
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
@uri_option
def restore_cmd(name: str, snapshot: str, running: bool | None, uri: str) -> None:
    from vdi.snapshots import revert_snapshot

    with _session(uri) as conn:
        result = revert_snapshot(conn, name, snapshot, running=running)
    state = "running" if result.running else "stopped"
    click.echo(f"{name} reverted to {snapshot} in {result.seconds:.1f} s ({state})")


@desktop.command("delete-snapshot", help="Delete SNAPSHOT of desktop NAME (external chains are committed).")
@click.argument("name")
@click.argument("snapshot")
@uri_option
def delete_snapshot_cmd(name: str, snapshot: str, uri: str) -> None:
    from vdi.snapshots import delete_snapshot

    with _session(uri) as conn:
        delete_snapshot(conn, name, snapshot)
    click.echo(f"deleted snapshot {snapshot} of {name}")


@desktop.command("backup", help="Back up desktop NAME into the backup pool (sha256 manifest written last).")
@click.argument("name")
@pool_option
@click.option("--no-quiesce", is_flag=True, help="do not freeze file systems through the guest agent")
@uri_option
def backup_cmd(name: str, pool: str, no_quiesce: bool, uri: str) -> None:
    from vdi.backup import create_backup

    with _session(uri) as conn:
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
@uri_option
def backups_cmd(name: str, pool: str, uri: str) -> None:
    from vdi.backup import list_backups

    with _session(uri) as conn:
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
@uri_option
def restore_backup_cmd(
    name: str,
    backup_id: str | None,
    pool: str,
    target: str | None,
    target_pool: str | None,
    start: bool | None,
    uri: str,
) -> None:
    from vdi.backup import list_backups, restore_backup

    with _session(uri) as conn:
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
@uri_option
def reset_cmd(name: str, golden: str | None, yes: bool, uri: str) -> None:
    from vdi.desktops import reset_desktop

    if not yes:
        click.confirm(f"discard everything on {name}'s disk and all its snapshots?", abort=True)
    with _session(uri) as conn:
        result = reset_desktop(conn, name, golden=golden, progress=lambda m: click.echo(f"  {m}", err=True))
    click.echo(f"reset {name} from {result.golden}" + (" and started it" if result.restarted else ""))


# -- hall backup --------------------------------------------------------------------------------------


@click.group(help="Backups: restore drills.")
def backup() -> None:
    pass


@backup.command("verify", help="Restore drill: restore BACKUP into a scratch desktop, boot it, remove it.")
@click.argument("backup_id")
@pool_option
@click.option("--expect", help="console text that proves the guest is up (default: GUEST-READY <arch>)")
@click.option("--timeout", default=300.0, show_default=True, help="seconds to wait for it")
@uri_option
def verify_cmd(backup_id: str, pool: str, expect: str | None, timeout: float, uri: str) -> None:
    from vdi.backup import verify_backup

    with _session(uri) as conn:
        result = verify_backup(
            conn, pool, backup_id, expect=expect, timeout=timeout, progress=ProgressPrinter()
        )
    if not result.ok:
        raise click.ClickException(
            f"restore drill of {backup_id} FAILED after {result.seconds:.1f} s: {result.error}"
        )
    marker = f", disk marker {result.marker}" if result.marker else ""
    click.echo(f"restore drill of {backup_id} passed in {result.seconds:.1f} s{marker}")


# -- hall snapshots -----------------------------------------------------------------------------------


@click.group(help="Snapshot and backup policies, and the scheduler that applies them.")
def snapshots() -> None:
    pass


def _load(policies: Path, uri: str | None) -> tuple[str, Any]:
    from vdi.scheduler import load_policies

    try:
        file_uri, items = load_policies(policies)
    except VdiError as exc:
        raise click.ClickException(str(exc)) from exc
    return uri or file_uri or DEFAULT_URI, items


@snapshots.command("scheduler", help="Run the scheduler: apply the policies in FILE (Ctrl-C stops it).")
@click.option("--policies", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True)
@click.option("--uri", envvar="HALLCLOUD_URI", default=None, help="overrides the file's uri")
@click.option("--interval", default=30.0, show_default=True, help="seconds between checks")
@click.option("--once", is_flag=True, help="check once and exit")
def scheduler_cmd(policies: Path, uri: str | None, interval: float, once: bool) -> None:
    from vdi.scheduler import Scheduler

    target, items = _load(policies, uri)
    sched = Scheduler(target, items, report=lambda e: click.echo(str(e)))
    click.echo(f"scheduler: {len(sched.jobs())} job(s) on {target}, state in {sched.state.path}")
    if once:
        sched.tick()
        return
    signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    try:
        sched.run_forever(interval=interval)
    except KeyboardInterrupt:
        click.echo("scheduler stopped")


@snapshots.command("status", help="Show the scheduler's state for the policies in FILE.")
@click.option("--policies", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True)
@click.option("--uri", envvar="HALLCLOUD_URI", default=None, help="overrides the file's uri")
def status_cmd(policies: Path, uri: str | None) -> None:
    from vdi.scheduler import Scheduler

    target, items = _load(policies, uri)
    for job, state in Scheduler(target, items).status().items():
        last = state["last_slot"] or "never"
        click.echo(
            f"{job:40} last slot {last}  {state['last_status'] or '-'}  runs {state['runs']} "
            f"failures {state['failures']} missed {state['missed']}"
        )


__all__ = ["backup", "desktop", "snapshots"]
