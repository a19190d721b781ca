"""One desktop's disks, its remembered origin, and the per-desktop operation lock.

Snapshots, backups, restores, resets and the scheduler all change a desktop's disks; they take the
same per-desktop lock (:func:`desktop_lock`, an ``flock`` in the state directory), so no two of them
ever run on one desktop at once, whether started by the CLI, the scheduler or the device manager.

External snapshots turn a disk defined on a pool volume into a chain of files. Before the first one,
vdi records in the domain's own ``<metadata>`` (:class:`vdi.models.DesktopRecord`) which pool volume
each disk was defined on and which golden volume it was cloned from; reset and restore-from-backup
(:mod:`vdi.recovery`) use that record to put the disk back on its volume, so the definition matches
what was planned again.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import libvirt

from vdi.conn import libvirt_errors
from vdi.domain import lookup_domain
from vdi.exceptions import Conflict, InvalidSpec, NotFound
from vdi.models import DesktopRecord, Disk, DiskOrigin, Domain
from vdi.paths import state_dir
from vdi.render import (
    DESKTOP_METADATA_KEY,
    DESKTOP_METADATA_NS,
    desktop_record_xml,
    domain_xml,
    parse_desktop_record,
    parse_domain,
    parse_pool,
    parse_volume,
)
from vdi.storage import get_pool, lookup_volume

__all__ = [
    "DesktopBusy",
    "DesktopDisk",
    "definition",
    "delete_files",
    "desktop_disks",
    "desktop_lock",
    "get_desktop",
    "origin_path",
    "overlays_above_origins",
    "present_disks",
    "read_record",
    "redefine_disks_on_volumes",
    "refresh_pools",
    "remember_origin",
    "volume_of_path",
    "write_record",
]


class DesktopBusy(Conflict):
    """Another snapshot/backup/restore/reset operation holds the desktop's lock."""


# -- locks --------------------------------------------------------------------------------------------


def _lock_path(uri: str, desktop: str) -> Path:
    host = hashlib.sha256(uri.encode()).hexdigest()[:10]
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", desktop)
    folder = state_dir() / "locks"
    folder.mkdir(exist_ok=True)
    return folder / f"{host}-{safe}.lock"


@contextlib.contextmanager
def desktop_lock(conn: libvirt.virConnect, desktop: str, operation: str) -> Iterator[None]:
    """Hold the desktop's operation lock, or raise :class:`DesktopBusy` naming who holds it."""
    path = _lock_path(conn.getURI(), desktop)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            raise DesktopBusy(
                f"desktop {desktop}",
                f"cannot {operation}: {holder} is already working on it",
                "wait for it to finish (the lock is released when that process ends)",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{operation} (pid {os.getpid()})".encode(), 0)
        yield
    finally:
        os.close(fd)


def get_desktop(conn: libvirt.virConnect, name: str) -> libvirt.virDomain:
    """The desktop's domain, or :class:`NotFound` naming the hypervisor and how to list desktops."""
    with libvirt_errors(f"desktop {name}", "look up the desktop"):
        dom = lookup_domain(conn, name)
    if dom is None:
        uri = conn.getURI()
        raise NotFound(
            f"desktop {name}",
            f"does not exist on {uri}",
            f"check the name (`virsh -c {uri} list --all`) or pass the right --uri",
        )
    return dom


# -- disks ------------------------------------------------------------------------------------------


@dataclass
class DesktopDisk:
    """A writable disk of a desktop as it is now."""

    dev: str
    path: str
    """The file the guest writes to now (the top of the chain)."""
    pool: str | None
    volume: str | None
    """The pool volume holding ``path`` (None when the file is in no pool)."""
    defined_as_volume: bool
    missing: bool = False
    """The volume the disk is defined on does not exist (deleted, lost): only restore/reset help."""


def definition(dom: libvirt.virDomain) -> Domain:
    """The live definition of a running domain, the persistent one otherwise."""
    flags = 0 if dom.isActive() else libvirt.VIR_DOMAIN_XML_INACTIVE
    with libvirt_errors(f"domain {dom.name()}", "read the definition"):
        return parse_domain(dom.XMLDesc(flags))


def desktop_disks(conn: libvirt.virConnect, dom: libvirt.virDomain) -> list[DesktopDisk]:
    out = []
    for disk in definition(dom).disks:
        if disk.device != "disk" or disk.readonly:
            continue
        label = f"disk {disk.target_dev} of domain {dom.name()}"
        with libvirt_errors(label, "find the disk's volume"):
            if disk.type == "volume" and disk.source_pool and disk.source_volume:
                vol = lookup_volume(conn.storagePoolLookupByName(disk.source_pool), disk.source_volume)
                path = vol.path() if vol is not None else ""
                dev, pool_name, vol_name = disk.target_dev, disk.source_pool, disk.source_volume
                out.append(DesktopDisk(dev, path, pool_name, vol_name, True, missing=vol is None))
                continue
            if disk.source_file is None:
                raise InvalidSpec(
                    label,
                    f"has source type {disk.type!r}, which vdi cannot snapshot or back up",
                    "use a file or pool volume disk",
                )
            pool, volume = volume_of_path(conn, disk.source_file)
            out.append(DesktopDisk(disk.target_dev, disk.source_file, pool, volume, False))
    if not out:
        raise InvalidSpec(f"domain {dom.name()}", "has no writable disk", "attach a disk first")
    return out


def present_disks(conn: libvirt.virConnect, dom: libvirt.virDomain) -> list[DesktopDisk]:
    """The desktop's disks, refusing when one's volume is missing (nothing to snapshot or copy)."""
    disks = desktop_disks(conn, dom)
    for d in disks:
        if d.missing:
            raise NotFound(
                f"desktop {dom.name()}",
                f"the volume {d.pool}/{d.volume} of disk {d.dev} does not exist",
                f"restore it from a backup (`hall desktop restore-backup {dom.name()}`) or reset it from its "
                f"golden image (`hall desktop reset {dom.name()}`)",
            )
    return disks


def volume_of_path(conn: libvirt.virConnect, path: str) -> tuple[str | None, str | None]:
    """The (pool, volume) holding ``path``; files libvirt made itself (snapshot overlays) need a refresh."""
    for attempt in range(2):
        try:
            vol = conn.storageVolLookupByPath(path)
            return vol.storagePoolLookupByVolume().name(), vol.name()
        except libvirt.libvirtError:
            if attempt == 0:
                refresh_pools(conn)
    return None, None


def refresh_pools(conn: libvirt.virConnect) -> None:
    with contextlib.suppress(libvirt.libvirtError):
        for pool in conn.listAllStoragePools(libvirt.VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE):
            with contextlib.suppress(libvirt.libvirtError):
                pool.refresh(0)


def origin_path(conn: libvirt.virConnect, origin: DiskOrigin) -> str:
    """Where the origin volume's file is (or was: it may have been deleted)."""
    pool = get_pool(conn, origin.pool)
    with libvirt_errors(f"pool {origin.pool}", "read the pool"):
        target = parse_pool(pool.XMLDesc(0)).target_path or ""
    return posixpath.join(target, origin.volume)


def overlays_above_origins(
    conn: libvirt.virConnect, dom: libvirt.virDomain, record: DesktopRecord
) -> list[str]:
    """Every file of the disks' chains above the volumes they were defined on (snapshot overlays).

    Follows each disk's backing files from the top down and stops at the origin volume, so the origin
    and the golden image below it are never included.
    """
    stops = {origin_path(conn, o) for o in record.disks}
    out: list[str] = []
    refresh_pools(conn)
    for disk in desktop_disks(conn, dom):
        path: str | None = None if disk.defined_as_volume else disk.path
        for _ in range(256):
            if not path or path in stops:
                break
            out.append(path)
            try:
                vol = conn.storageVolLookupByPath(path)
                backing = parse_volume(vol.XMLDesc(0)).backing
            except libvirt.libvirtError:
                break
            path = backing.path if backing is not None else None
    return out


# -- the record in the domain's metadata -------------------------------------------------------------


def read_record(dom: libvirt.virDomain) -> DesktopRecord | None:
    try:
        text = dom.metadata(
            libvirt.VIR_DOMAIN_METADATA_ELEMENT, DESKTOP_METADATA_NS, libvirt.VIR_DOMAIN_AFFECT_CONFIG
        )
    except libvirt.libvirtError:
        return None
    return parse_desktop_record(text)


def write_record(dom: libvirt.virDomain, record: DesktopRecord) -> None:
    flags = libvirt.VIR_DOMAIN_AFFECT_CONFIG | (libvirt.VIR_DOMAIN_AFFECT_LIVE if dom.isActive() else 0)
    with libvirt_errors(f"domain {dom.name()}", "record the desktop's origin in its metadata"):
        dom.setMetadata(
            libvirt.VIR_DOMAIN_METADATA_ELEMENT,
            desktop_record_xml(record),
            DESKTOP_METADATA_KEY,
            DESKTOP_METADATA_NS,
            flags,
        )


def remember_origin(conn: libvirt.virConnect, dom: libvirt.virDomain) -> DesktopRecord:
    """The desktop's record, created from its current disks when it has none yet."""
    record = read_record(dom)
    if record is not None and record.disks:
        return record
    record = record or DesktopRecord()
    for disk in desktop_disks(conn, dom):
        if disk.pool and disk.volume:
            record.disks.append(DiskOrigin(disk.dev, disk.pool, disk.volume))
            if record.golden_volume is None:
                golden = _backing_volume(conn, disk.pool, disk.volume)
                if golden is not None:
                    record.golden_pool, record.golden_volume = golden
    write_record(dom, record)
    return record


def _backing_volume(conn: libvirt.virConnect, pool: str, volume: str) -> tuple[str, str] | None:
    with libvirt_errors(f"volume {pool}/{volume}", "read the volume"):
        info = parse_volume(conn.storagePoolLookupByName(pool).storageVolLookupByName(volume).XMLDesc(0))
    if info.backing is None:
        return None
    found = volume_of_path(conn, info.backing.path)
    return (found[0], found[1]) if found[0] and found[1] else None


def redefine_disks_on_volumes(
    conn: libvirt.virConnect, dom: libvirt.virDomain, record: DesktopRecord
) -> None:
    """Point the (stopped) domain's disks back at the pool volumes they were planned on."""
    origins = {o.dev: o for o in record.disks}
    with libvirt_errors(f"domain {dom.name()}", "read the definition"):
        # SECURE: without it libvirt leaves out the console password, and the redefinition would
        # switch console authentication off (no one-time tickets for this desktop any more)
        planned = parse_domain(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE))
    changed = False
    for i, disk in enumerate(planned.disks):
        origin = origins.get(disk.target_dev)
        if origin is None or (disk.type == "volume" and disk.source_volume == origin.volume):
            continue
        planned.disks[i] = Disk(
            target_dev=disk.target_dev,
            bus=disk.bus,
            device=disk.device,
            type="volume",
            source_pool=origin.pool,
            source_volume=origin.volume,
            driver_type="qcow2",
        )
        changed = True
    if changed:
        with libvirt_errors(f"domain {dom.name()}", "redefine the disks on their volumes"):
            conn.defineXML(domain_xml(planned))
        write_record(conn.lookupByName(dom.name()), record)


def delete_files(conn: libvirt.virConnect, paths: list[str]) -> None:
    """Delete overlay files left on top of a disk chain (they are pool volumes when in a pool dir)."""
    if paths:
        refresh_pools(conn)
    for path in paths:
        with contextlib.suppress(libvirt.libvirtError):
            conn.storageVolLookupByPath(path).delete(0)
