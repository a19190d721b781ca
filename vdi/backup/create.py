"""Creating a backup: a live copy of a running desktop (libvirt backup API) or a copy of a stopped one.

The manifest is written last, after every data volume is copied and checksummed (see :mod:`vdi.backup`).
"""

from __future__ import annotations

import contextlib
import posixpath
import threading
import time
from datetime import UTC, datetime
from typing import Literal

import libvirt

from vdi import failpoints
from vdi.backup.store import (
    BackupFile,
    BackupManifest,
    Origin,
    backup_dir,
    backup_id,
    list_backups,
    remove_incomplete,
    write_manifest,
)
from vdi.backup.streams import Progress, quiet, sha256_volume
from vdi.conn import libvirt_errors
from vdi.desktops import desktop_disks, desktop_lock, get_desktop, present_disks, read_record, volume_of_path
from vdi.exceptions import Conflict, VdiError
from vdi.models import BackupDisk, DomainBackup, Volume
from vdi.render import backup_xml, parse_domain, parse_volume, volume_xml
from vdi.snapshots import guest_agent_freeze, guest_agent_thaw
from vdi.storage import delete_volume, get_pool

__all__ = ["create_backup"]


def create_backup(
    conn: libvirt.virConnect,
    desktop: str,
    pool_name: str,
    *,
    quiesce: bool = True,
    origin: Origin = "manual",
    progress: Progress = quiet,
    now: datetime | None = None,
    lock: bool = True,
) -> BackupManifest:
    """Back up every writable disk of ``desktop`` (running or stopped) into ``pool_name``.

    ``lock=False``: the caller (the scheduler) already holds the desktop's lock.
    """
    dom = get_desktop(conn, desktop)
    pool = get_pool(conn, pool_name)
    directory = backup_dir(pool)
    with desktop_lock(conn, desktop, "back up the desktop") if lock else contextlib.nullcontext():
        _abort_stale_job(dom, progress)
        for vol in remove_incomplete(conn, pool_name, desktop):
            progress(f"removed {vol} (left by an interrupted backup)", None, None)
        bid = backup_id(desktop, now)
        if any(e.id == bid for e in list_backups(conn, pool_name, desktop)):
            raise Conflict(f"backup {bid}", "already exists", "wait a second and back up again")
        disks = present_disks(conn, dom)
        running = bool(dom.isActive())
        targets = {d.dev: f"{bid}.{d.dev}.qcow2" for d in disks}
        notes: list[str] = []
        try:
            if running:
                _live_copy(dom, directory, targets, quiesce, notes, progress)
            else:
                notes.append("desktop stopped: copied its disks as they are")
                _offline_copy(conn, pool, disks, targets, progress)
            with libvirt_errors(f"pool {pool_name}", "refresh the pool"):
                pool.refresh(0)
            failpoints.hold("backup.copied")
            record = read_record(dom)
            origins = {o.dev: f"{o.pool}/{o.volume}" for o in (record.disks if record else [])}
            origins.update({d.dev: f"{d.pool}/{d.volume}" for d in disks if d.defined_as_volume})
            files = []
            for dev, name in targets.items():
                vol = pool.storageVolLookupByName(name)
                digest, size = sha256_volume(conn, vol, progress, f"checksum {name}")
                capacity = parse_volume(vol.XMLDesc(0)).capacity_bytes
                files.append(BackupFile(dev, name, digest, size, capacity, origins.get(dev)))
            manifest = _manifest(conn, dom, bid, origin, "live" if running else "offline", files, notes, now)
            write_manifest(pool, manifest)
        except BaseException:
            _abort_stale_job(dom, quiet)
            for name in targets.values():
                with contextlib.suppress(VdiError, libvirt.libvirtError):
                    delete_volume(pool, name)
            raise
    progress(f"backup {bid} complete", None, None)
    return manifest


def _manifest(
    conn: libvirt.virConnect,
    dom: libvirt.virDomain,
    bid: str,
    origin: Origin,
    mode: Literal["live", "offline"],
    files: list[BackupFile],
    notes: list[str],
    now: datetime | None,
) -> BackupManifest:
    with libvirt_errors(f"domain {dom.name()}", "read the definition"):
        inactive = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    record = read_record(dom)
    golden = None
    if record and record.golden_pool and record.golden_volume:
        golden = f"{record.golden_pool}/{record.golden_volume}"
    else:
        for disk in desktop_disks(conn, dom):
            if disk.pool and disk.volume:
                info = parse_volume(
                    conn.storagePoolLookupByName(disk.pool).storageVolLookupByName(disk.volume).XMLDesc(0)
                )
                if info.backing is not None:
                    gp, gv = volume_of_path(conn, info.backing.path)
                    golden = f"{gp}/{gv}" if gp and gv else None
                break
    created = (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")
    return BackupManifest(
        bid, dom.name(), created, parse_domain(inactive).os.arch, origin, mode, files, inactive, golden, notes
    )


def _abort_stale_job(dom: libvirt.virDomain, progress: Progress) -> None:
    """Abort a backup job a crashed run left behind (we hold the desktop's lock, so it is not ours)."""
    with contextlib.suppress(libvirt.libvirtError):
        if not dom.isActive():
            return
        stats = dom.jobStats(0)
        if (
            stats.get("type", 0) != libvirt.VIR_DOMAIN_JOB_NONE
            and stats.get("operation") == libvirt.VIR_DOMAIN_JOB_OPERATION_BACKUP
        ):
            dom.abortJob()
            progress("aborted a backup job left running by an interrupted backup", None, None)
            for _ in range(100):
                if dom.jobStats(0).get("type", 0) == libvirt.VIR_DOMAIN_JOB_NONE:
                    break
                time.sleep(0.1)


def _live_copy(
    dom: libvirt.virDomain,
    directory: str,
    targets: dict[str, str],
    quiesce: bool,
    notes: list[str],
    progress: Progress,
) -> None:
    spec = DomainBackup([BackupDisk(dev, posixpath.join(directory, name)) for dev, name in targets.items()])
    frozen = False
    if quiesce:
        frozen, note = guest_agent_freeze(dom)
        notes.append(note)
    else:
        notes.append("not quiesced: quiescing is turned off (crash-consistent copy)")
    try:
        with libvirt_errors(
            f"desktop {dom.name()}",
            "start the backup job",
            "check free space in the backup pool and that no other block job runs",
        ):
            dom.backupBegin(backup_xml(spec), None, 0)
    finally:
        if frozen:  # the point in time is fixed when the job starts
            guest_agent_thaw(dom)
    last = 0.0
    while True:
        with libvirt_errors(f"desktop {dom.name()}", "follow the backup job"):
            stats = dom.jobStats(0)
        if stats.get("type", 0) == libvirt.VIR_DOMAIN_JOB_NONE:
            break
        if time.monotonic() - last > 0.5:
            progress("copying disks", stats.get("disk_processed"), stats.get("disk_total"))
            last = time.monotonic()
        time.sleep(0.2)
    with libvirt_errors(f"desktop {dom.name()}", "read the backup job's result"):
        done = dom.jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED)
    if not done.get("success", False):
        raise VdiError(
            f"desktop {dom.name()}",
            f"the backup job failed: {done.get('errmsg', 'no reason given')}",
            "check free space in the backup pool and the QEMU log",
        )
    progress("copying disks", done.get("disk_processed"), done.get("disk_total"))


def _offline_copy(
    conn: libvirt.virConnect,
    pool: libvirt.virStoragePool,
    disks: list,
    targets: dict[str, str],
    progress: Progress,
) -> None:
    for disk in disks:
        name = targets[disk.dev]
        with libvirt_errors(f"disk {disk.dev}", "find its volume"):
            src = conn.storageVolLookupByPath(disk.path)
            capacity = parse_volume(src.XMLDesc(0)).capacity_bytes
        want = Volume(name=name, capacity_bytes=capacity, format="qcow2")
        stop = threading.Event()

        def watch(name: str = name, capacity: int = capacity, stop: threading.Event = stop) -> None:
            while not stop.wait(0.5):
                with contextlib.suppress(libvirt.libvirtError):
                    progress(f"copying {name}", int(pool.storageVolLookupByName(name).info()[2]), capacity)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            with libvirt_errors(f"volume {pool.name()}/{name}", f"copy disk {disk.dev}"):
                pool.createXMLFrom(volume_xml(want), src, 0)
        finally:
            stop.set()
            watcher.join()
