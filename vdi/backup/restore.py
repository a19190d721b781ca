"""Restoring a backup onto its desktop or into a new desktop; every checksum is verified first."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

import libvirt

from vdi import failpoints
from vdi.backup.store import BackupManifest, get_backup, verify_checksums
from vdi.backup.streams import Progress, copy_volume, quiet
from vdi.desktops import desktop_disks, desktop_lock, read_record, volume_of_path, write_record
from vdi.domain import define_domain, get_domain, lookup_domain, start_domain, undefine_domain
from vdi.exceptions import ChecksumMismatch, Conflict, InvalidSpec, VdiError
from vdi.models import DesktopRecord, Disk, DiskOrigin, random_console_password
from vdi.recovery import replace_disks
from vdi.render import parse_domain
from vdi.storage import delete_volume, get_pool, lookup_volume

__all__ = ["RestoreResult", "restore_backup"]


@dataclass
class RestoreResult:
    backup: str
    desktop: str
    new_desktop: bool
    running: bool
    removed_snapshots: list[str]
    seconds: float


def restore_backup(
    conn: libvirt.virConnect,
    pool_name: str,
    bid: str,
    *,
    target: str | None = None,
    target_pool: str | None = None,
    start: bool | None = None,
    isolate: bool = False,
    progress: Progress = quiet,
) -> RestoreResult:
    """Restore backup ``bid`` onto its desktop (``target=None``) or into a new desktop ``target``.

    Every checksum is verified first; a damaged backup is refused before anything changes. Restoring
    onto the desktop stops it, discards its snapshots (they describe a disk that is being replaced),
    puts its disks back on their pool volumes with the backup's bytes, and starts it again if it was
    running (``start`` overrides). A new desktop gets the backed-up definition with a fresh UUID and
    MACs (``isolate``: without network interfaces, for drills), in ``target_pool`` (default: the pool of
    the original disks).
    """
    started = time.monotonic()
    manifest = get_backup(conn, pool_name, bid)
    progress(f"verifying backup {bid}", None, None)
    verify_checksums(conn, pool_name, manifest, progress)
    name = target or manifest.desktop
    with desktop_lock(conn, name, f"restore backup {bid}"):
        existing = lookup_domain(conn, name)
        if target is not None and target != manifest.desktop and existing is not None:
            raise Conflict(
                f"desktop {name}",
                "already exists",
                f"choose a new name, or omit --to to restore onto {manifest.desktop} itself",
            )
        if existing is None:
            return _restore_new(
                conn, pool_name, manifest, name, target_pool, start, isolate, progress, started
            )
        record = read_record(existing) or DesktopRecord()
        dests = _destinations(conn, existing, manifest, record)
        record.disks = [DiskOrigin(dev, p, v) for dev, (p, v) in dests.items()]
        if manifest.golden and not record.golden_volume:
            record.golden_pool, _, record.golden_volume = manifest.golden.partition("/")
        progress(f"stopping {name}", None, None)
        replaced = replace_disks(
            conn,
            existing,
            record,
            lambda: _write_disks(conn, pool_name, manifest, dests, progress),
            start=start,
        )
    return RestoreResult(
        bid, name, False, replaced.running, replaced.removed_snapshots, time.monotonic() - started
    )


def _destinations(
    conn: libvirt.virConnect, dom: libvirt.virDomain, manifest: BackupManifest, record: DesktopRecord
) -> dict[str, tuple[str, str]]:
    origins = {o.dev: (o.pool, o.volume) for o in record.disks}
    current = {d.dev: d for d in desktop_disks(conn, dom)}
    planned = {d.target_dev: d for d in parse_domain(manifest.domain_xml).disks}
    out = {}
    for f in manifest.files:
        if f.dev in origins:
            out[f.dev] = origins[f.dev]
        elif f.dev in current and current[f.dev].defined_as_volume:
            disk = current[f.dev]
            assert disk.pool and disk.volume
            out[f.dev] = (disk.pool, disk.volume)
        elif f.source:
            pool, _, vol = f.source.partition("/")
            out[f.dev] = (pool, vol)
        elif f.dev in planned and planned[f.dev].source_pool and planned[f.dev].source_volume:
            out[f.dev] = (planned[f.dev].source_pool or "", planned[f.dev].source_volume or "")
        else:
            raise InvalidSpec(
                f"desktop {dom.name()}",
                f"vdi cannot tell which volume disk {f.dev} belongs on",
                "restore into a new desktop instead (--to NEW-NAME)",
            )
    return out


def _write_disks(
    conn: libvirt.virConnect,
    pool_name: str,
    manifest: BackupManifest,
    dests: dict[str, tuple[str, str]],
    progress: Progress,
) -> None:
    source_pool = get_pool(conn, pool_name)
    for f in manifest.files:
        dpool_name, dvol = dests[f.dev]
        dpool = get_pool(conn, dpool_name)
        delete_volume(dpool, dvol)
        src = source_pool.storageVolLookupByName(f.volume)
        copied = copy_volume(conn, src, dpool, dvol, progress, f"restoring {f.dev}")
        if copied != f.sha256:
            raise ChecksumMismatch(
                f"backup {manifest.id}",
                f"{f.volume} changed while it was being restored (sha256 {copied}, manifest {f.sha256})",
                "restore again; check the storage tier",
            )


def _restore_new(
    conn: libvirt.virConnect,
    pool_name: str,
    manifest: BackupManifest,
    name: str,
    target_pool: str | None,
    start: bool | None,
    isolate: bool,
    progress: Progress,
    started: float,
) -> RestoreResult:
    planned = parse_domain(manifest.domain_xml)
    by_dev = {d.target_dev: d for d in planned.disks}
    dests: dict[str, tuple[str, str]] = {}
    for i, f in enumerate(manifest.files):
        old = by_dev.get(f.dev)
        pool = target_pool or (old.source_pool if old and old.source_pool else None)
        if pool is None and f.source:
            pool = f.source.partition("/")[0]
        if pool is None:
            pool = volume_of_path(conn, old.source_file)[0] if old and old.source_file else None
        if pool is None:
            raise InvalidSpec(f"desktop {name}", f"no pool known for disk {f.dev}", "pass --pool POOL")
        dests[f.dev] = (pool, f"{name}.qcow2" if i == 0 else f"{name}-{f.dev}.qcow2")
    for pool, vol in dests.values():
        if lookup_volume(get_pool(conn, pool), vol) is not None:
            raise Conflict(
                f"volume {pool}/{vol}",
                "already exists",
                f"delete it or restore under another name than {name}",
            )
    planned.name, planned.uuid = name, None
    planned.description = f"restored from backup {manifest.id}"
    # a manifest never holds console passwords; the restored desktop gets a fresh one so that password
    # authentication stays on and one-time console tickets keep working
    for graphics in planned.graphics:
        if graphics.passwd is None:
            graphics.passwd = random_console_password(graphics.type)
    if planned.os.nvram is not None:
        planned.os.nvram.path = None
    for nic in planned.interfaces:
        nic.mac = None
    if isolate:
        planned.interfaces = []
    for g in planned.graphics:
        g.port = None
    planned.disks = [
        Disk(
            target_dev=d.target_dev,
            bus=d.bus,
            device=d.device,
            type="volume",
            source_pool=dests[d.target_dev][0],
            source_volume=dests[d.target_dev][1],
            driver_type="qcow2",
        )
        if d.target_dev in dests
        else d
        for d in planned.disks
    ]
    created: list[tuple[str, str]] = []
    try:
        for f in manifest.files:
            pool, vol = dests[f.dev]
            created.append((pool, vol))
            copy_volume(
                conn,
                get_pool(conn, pool_name).storageVolLookupByName(f.volume),
                get_pool(conn, pool),
                vol,
                progress,
                f"restoring {f.dev}",
            )
            failpoints.hold("restore.copying")
        define_domain(conn, planned)
        record = DesktopRecord(disks=[DiskOrigin(dev, p, v) for dev, (p, v) in dests.items()])
        if manifest.golden:
            record.golden_pool, _, record.golden_volume = manifest.golden.partition("/")
        dom = get_domain(conn, name)
        write_record(dom, record)
        if start:
            start_domain(conn, name)
    except BaseException:
        with contextlib.suppress(VdiError, libvirt.libvirtError):
            undefine_domain(conn, name)
        for pool, vol in created:
            with contextlib.suppress(VdiError, libvirt.libvirtError):
                delete_volume(get_pool(conn, pool), vol)
        raise
    return RestoreResult(manifest.id, name, True, bool(start), [], time.monotonic() - started)
