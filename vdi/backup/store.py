"""Backups of desktops into a storage-tier pool, with a sha256 manifest; restore; restore drills.

A backup of desktop ``D`` is a set of volumes in the backup pool::

    D--20261125T143000Z.vda.qcow2          a standalone qcow2 copy of disk vda (no backing file)
    D--20261125T143000Z.manifest.json      written last: checksums, sizes, the domain definition

A **running** desktop is copied with libvirt's backup API (``virDomainBackupBegin``, push mode): QEMU
copies a point-in-time view of every disk while the guest keeps running (copy-before-write), quiesced
through the guest agent when the guest has one. A **stopped** desktop's disks are copied with
``createXMLFrom`` (``qemu-img convert``, which flattens the backing chain).

Only a manifest that parses, names files that exist, and whose checksums match makes a backup
complete. The manifest is uploaded after every data file is written and checksummed, so a crash (or
``kill -9``) mid-backup leaves data volumes without a manifest: :func:`list_backups` shows them as
incomplete, restore refuses them, and the next backup of that desktop removes them (and aborts a
backup job the dead process left running in libvirt). libvirt has no volume rename, so the manifest
is the commit record. Everything goes through libvirt streams, so it works on remote hypervisors.

Restores verify every checksum *before* the desktop is touched; a mismatch raises
:class:`~vdi.exceptions.ChecksumMismatch` and leaves the desktop as it was.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import posixpath
import re
import secrets
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Literal

import libvirt

from vdi.conn import libvirt_errors
from vdi.desktops import (
    desktop_disks,
    desktop_lock,
    get_desktop,
    present_disks,
    read_record,
    refresh_pools,
    volume_of_path,
    write_record,
)
from vdi.domain import define_domain, get_domain, lookup_domain, start_domain, undefine_domain
from vdi.exceptions import ChecksumMismatch, Conflict, InvalidSpec, NotFound, VdiError
from vdi.models import (
    BackupDisk,
    DesktopRecord,
    Disk,
    DiskOrigin,
    DomainBackup,
    Volume,
    random_console_password,
)
from vdi.paths import state_dir
from vdi.policy import Retention, RetentionPlan, plan_retention
from vdi.recovery import replace_disks
from vdi.render import backup_xml, parse_domain, parse_pool, parse_volume, volume_xml
from vdi.serial_console import SerialConsole
from vdi.snapshots import guest_agent_freeze, guest_agent_thaw
from vdi.storage import delete_volume, get_pool, lookup_volume, upload_volume

CHUNK = 4 * 1024 * 1024
MANIFEST_SUFFIX = ".manifest.json"
ID_SEPARATOR = "--"
DATA_RE = re.compile(r"^(?P<id>.+--\d{8}T\d{6}Z)\.(?P<dev>[a-z]+)\.qcow2$")
Progress = Callable[[str, int | None, int | None], None]
"""``progress(what, done_bytes, total_bytes)``; bytes are None for plain status messages."""
Origin = Literal["manual", "auto"]


def _quiet(_what: str, _done: int | None, _total: int | None) -> None:
    pass


@dataclass
class BackupFile:
    dev: str
    volume: str
    sha256: str
    size: int
    """Bytes of the volume file (what the sha256 covers)."""
    virtual_size: int
    source: str | None = None
    """``pool/volume`` the disk was defined on (restores into a new desktop use that pool)."""


@dataclass
class BackupManifest:
    id: str
    desktop: str
    created: str
    """ISO 8601, UTC."""
    arch: str
    origin: Origin
    mode: Literal["live", "offline"]
    files: list[BackupFile]
    domain_xml: str
    golden: str | None = None
    """``pool/volume`` of the golden image the desktop was cloned from, when known."""
    notes: list[str] = field(default_factory=list)
    version: int = 1

    @property
    def created_at(self) -> datetime:
        return datetime.fromisoformat(self.created)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> BackupManifest:
        data = json.loads(text)
        data["files"] = [BackupFile(**f) for f in data["files"]]
        return cls(**data)


@dataclass
class BackupEntry:
    id: str
    desktop: str
    complete: bool
    manifest: BackupManifest | None
    volumes: list[str]
    problem: str | None = None

    @property
    def created(self) -> datetime | None:
        return self.manifest.created_at if self.manifest else None


def backup_id(desktop: str, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{desktop}{ID_SEPARATOR}{stamp}"


def desktop_of(backup: str) -> str:
    return backup.rsplit(ID_SEPARATOR, 1)[0]


# -- streams ------------------------------------------------------------------------------------------


def _physical_size(vol: libvirt.virStorageVol) -> int:
    try:
        return int(vol.infoFlags(libvirt.VIR_STORAGE_VOL_GET_PHYSICAL)[2])
    except (libvirt.libvirtError, AttributeError):
        return int(vol.info()[2])


def _download(conn: libvirt.virConnect, vol: libvirt.virStorageVol) -> Iterator[bytes]:
    stream = conn.newStream(0)
    vol.download(stream, 0, 0, 0)
    try:
        while True:
            data = stream.recv(CHUNK)
            if isinstance(data, int) or not data:
                break
            yield data
        stream.finish()
    except BaseException:
        with contextlib.suppress(libvirt.libvirtError):
            stream.abort()
        raise


def sha256_volume(
    conn: libvirt.virConnect, vol: libvirt.virStorageVol, progress: Progress = _quiet, what: str = "checksum"
) -> tuple[str, int]:
    """(sha256, size) of a volume's bytes, read through a libvirt stream."""
    digest = hashlib.sha256()
    total = _physical_size(vol)
    done = 0
    last = 0.0
    for chunk in _download(conn, vol):
        digest.update(chunk)
        done += len(chunk)
        if time.monotonic() - last > 0.5:
            progress(what, done, total)
            last = time.monotonic()
    progress(what, done, total)
    return digest.hexdigest(), done


def _copy_volume(
    conn: libvirt.virConnect,
    src: libvirt.virStorageVol,
    pool: libvirt.virStoragePool,
    name: str,
    progress: Progress,
    what: str,
) -> str:
    """Stream ``src`` byte for byte into new volume ``name`` of ``pool``; returns the sha256 copied."""
    size = _physical_size(src)
    blank = Volume(name=name, capacity_bytes=size, format="raw", allocation_bytes=0)
    with libvirt_errors(f"volume {pool.name()}/{name}", "create the volume"):
        dst = pool.createXML(volume_xml(blank), 0)
    digest = hashlib.sha256()
    try:
        with libvirt_errors(f"volume {pool.name()}/{name}", f"copy {src.name()} into it"):
            out = conn.newStream(0)
            dst.upload(out, 0, size, 0)
            done, last = 0, 0.0
            try:
                for chunk in _download(conn, src):
                    digest.update(chunk)
                    view = memoryview(chunk)
                    while view:
                        sent = out.send(view.tobytes())
                        view = view[sent:]
                    done += len(chunk)
                    if time.monotonic() - last > 0.5:
                        progress(what, done, size)
                        last = time.monotonic()
                out.finish()
            except BaseException:
                with contextlib.suppress(libvirt.libvirtError):
                    out.abort()
                raise
            progress(what, done, size)
            pool.refresh(0)
    except BaseException:
        delete_volume(pool, name)
        raise
    return digest.hexdigest()


# -- the backup pool ----------------------------------------------------------------------------------


def _backup_dir(pool: libvirt.virStoragePool) -> str:
    with libvirt_errors(f"pool {pool.name()}", "read the pool"):
        spec = parse_pool(pool.XMLDesc(0))
    if spec.type not in ("dir", "netfs") or not spec.target_path:
        raise InvalidSpec(
            f"backup pool {pool.name()}",
            f"is a {spec.type} pool without a host directory",
            "use a dir or netfs pool of the storage tier as backup pool",
        )
    return spec.target_path


def _read_manifest(conn: libvirt.virConnect, vol: libvirt.virStorageVol) -> BackupManifest:
    text = b"".join(_download(conn, vol)).decode("utf-8", errors="replace")
    return BackupManifest.from_json(text)


def list_backups(conn: libvirt.virConnect, pool_name: str, desktop: str | None = None) -> list[BackupEntry]:
    """Backups in the pool (of ``desktop``), oldest first; incomplete ones have ``complete=False``."""
    pool = get_pool(conn, pool_name)
    with libvirt_errors(f"pool {pool_name}", "list volumes"):
        pool.refresh(0)
        names = set(pool.listVolumes())
    ids: dict[str, list[str]] = {}
    for name in names:
        if name.endswith(MANIFEST_SUFFIX):
            ids.setdefault(name.removesuffix(MANIFEST_SUFFIX), []).append(name)
        elif m := DATA_RE.match(name):
            ids.setdefault(m.group("id"), []).append(name)
    out = []
    for bid, vols in ids.items():
        if desktop is not None and desktop_of(bid) != desktop:
            continue
        manifest, problem = None, None
        if bid + MANIFEST_SUFFIX in vols:
            try:
                manifest = _read_manifest(conn, pool.storageVolLookupByName(bid + MANIFEST_SUFFIX))
                missing = [f.volume for f in manifest.files if f.volume not in names]
                if missing:
                    problem = f"data volume(s) missing: {', '.join(missing)}"
            except (ValueError, KeyError, TypeError, libvirt.libvirtError) as exc:
                problem = f"manifest unreadable ({type(exc).__name__}): an interrupted backup"
                manifest = None
        else:
            problem = "no manifest: in progress or interrupted (not restorable)"
        out.append(BackupEntry(bid, desktop_of(bid), problem is None, manifest, sorted(vols), problem))
    return sorted(out, key=lambda e: e.id)


def get_backup(conn: libvirt.virConnect, pool_name: str, bid: str) -> BackupManifest:
    """The manifest of a complete backup; refuses an unknown or incomplete one."""
    entry = next((e for e in list_backups(conn, pool_name, desktop_of(bid)) if e.id == bid), None)
    if entry is None:
        known = (
            ", ".join(e.id for e in list_backups(conn, pool_name, desktop_of(bid)) if e.complete) or "none"
        )
        raise NotFound(
            f"backup {bid}",
            f"is not in pool {pool_name} (complete backups of {desktop_of(bid)}: {known})",
            "list them with `hall desktop backups NAME`",
        )
    if not entry.complete or entry.manifest is None:
        raise InvalidSpec(
            f"backup {bid}",
            f"is incomplete: {entry.problem}",
            "restore another backup; the next backup of the desktop removes this one",
        )
    return entry.manifest


def delete_backup(conn: libvirt.virConnect, pool_name: str, bid: str) -> list[str]:
    """Delete a backup's volumes, manifest first (so it never looks complete with data missing)."""
    pool = get_pool(conn, pool_name)
    entry = next((e for e in list_backups(conn, pool_name, desktop_of(bid)) if e.id == bid), None)
    if entry is None:
        raise NotFound(
            f"backup {bid}", f"is not in pool {pool_name}", "list them with `hall desktop backups NAME`"
        )
    vols = sorted(entry.volumes, key=lambda v: not v.endswith(MANIFEST_SUFFIX))
    for vol in vols:
        delete_volume(pool, vol)
    return vols


def remove_incomplete(conn: libvirt.virConnect, pool_name: str, desktop: str) -> list[str]:
    """Remove the leftovers of interrupted backups of ``desktop`` (call with the desktop's lock held)."""
    removed = []
    for entry in list_backups(conn, pool_name, desktop):
        if not entry.complete:
            removed += delete_backup(conn, pool_name, entry.id)
    return removed


def verify_checksums(
    conn: libvirt.virConnect, pool_name: str, manifest: BackupManifest, progress: Progress = _quiet
) -> None:
    """Raise :class:`ChecksumMismatch` unless every data volume matches the manifest."""
    pool = get_pool(conn, pool_name)
    for f in manifest.files:
        vol = lookup_volume(pool, f.volume)
        if vol is None:
            raise NotFound(
                f"backup {manifest.id}",
                f"data volume {pool_name}/{f.volume} is missing",
                "restore another backup",
            )
        actual, size = sha256_volume(conn, vol, progress, f"verifying {f.volume}")
        if actual != f.sha256 or size != f.size:
            raise ChecksumMismatch(
                f"backup {manifest.id}",
                f"{pool_name}/{f.volume} has sha256 {actual} ({size} bytes), the manifest says {f.sha256} "
                f"({f.size} bytes): the backup is damaged, nothing was changed",
                f"restore an older backup (`hall desktop backups {manifest.desktop}`) and delete this one",
            )


# -- create -------------------------------------------------------------------------------------------


def create_backup(
    conn: libvirt.virConnect,
    desktop: str,
    pool_name: str,
    *,
    quiesce: bool = True,
    origin: Origin = "manual",
    progress: Progress = _quiet,
    now: datetime | None = None,
    lock: bool = True,
) -> BackupManifest:
    """Back up every writable disk of ``desktop`` (running or stopped) into ``pool_name``.

    ``lock=False``: the caller (the scheduler) already holds the desktop's lock.
    """
    dom = get_desktop(conn, desktop)
    pool = get_pool(conn, pool_name)
    directory = _backup_dir(pool)
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
            _write_manifest(pool, manifest)
        except BaseException:
            _abort_stale_job(dom, _quiet)
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


def _write_manifest(pool: libvirt.virStoragePool, manifest: BackupManifest) -> None:
    with tempfile.TemporaryDirectory(prefix="hallcloud-backup-") as tmp:
        local = Path(tmp) / "manifest.json"
        local.write_text(manifest.to_json())
        upload_volume(pool, manifest.id + MANIFEST_SUFFIX, local, fmt="raw", mode="0640")


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


# -- restore ------------------------------------------------------------------------------------------


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
    progress: Progress = _quiet,
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
        copied = _copy_volume(conn, src, dpool, dvol, progress, f"restoring {f.dev}")
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
            _copy_volume(
                conn,
                get_pool(conn, pool_name).storageVolLookupByName(f.volume),
                get_pool(conn, pool),
                vol,
                progress,
                f"restoring {f.dev}",
            )
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


# -- prune --------------------------------------------------------------------------------------------


def prune_backups(
    conn: libvirt.virConnect,
    pool_name: str,
    desktop: str,
    retention: Retention,
    *,
    tz: tzinfo | None = None,
    dry_run: bool = False,
) -> RetentionPlan:
    """Delete the desktop's scheduled backups that ``retention`` does not keep (manual ones stay)."""
    entries = [e for e in list_backups(conn, pool_name, desktop) if e.complete and e.manifest]
    label = {f"{e.manifest.origin}-{e.id}": e.id for e in entries if e.manifest}
    plan = plan_retention(
        [(f"{e.manifest.origin}-{e.id}", e.manifest.created_at) for e in entries if e.manifest], retention, tz
    )
    plan = RetentionPlan({label[k]: v for k, v in plan.keep.items()}, [label[n] for n in plan.delete])
    if not dry_run:
        for bid in plan.delete:
            delete_backup(conn, pool_name, bid)
    return plan


# -- restore drill ------------------------------------------------------------------------------------


@dataclass
class DrillResult:
    backup: str
    ok: bool
    checked_at: str
    seconds: float
    scratch_desktop: str
    marker: str | None = None
    error: str | None = None


DISK_MARKER = re.compile(r"DISK-MARKER (\S+)")


def verify_backup(
    conn: libvirt.virConnect,
    pool_name: str,
    bid: str,
    *,
    expect: str | None = None,
    timeout: float = 300.0,
    progress: Progress = _quiet,
    record: bool = True,
) -> DrillResult:
    """Restore drill: restore ``bid`` into a scratch desktop without network, boot it, wait for the guest
    to come up (``expect``, default ``GUEST-READY <arch>``), remove the scratch desktop, record the result
    in ``<state dir>/drills.jsonl``. Returns the result; a failed drill has ``ok=False`` and ``error``."""
    started = time.monotonic()
    scratch = f"hc-drill-{secrets.token_hex(3)}"
    result = DrillResult(bid, False, datetime.now(UTC).isoformat(timespec="seconds"), 0.0, scratch)
    restored: RestoreResult | None = None
    try:
        manifest = get_backup(conn, pool_name, bid)
        restored = restore_backup(conn, pool_name, bid, target=scratch, isolate=True, progress=progress)
        pattern = expect or f"GUEST-READY {manifest.arch}"
        progress(f"booting scratch desktop {scratch}", None, None)
        start_domain(conn, scratch, paused=True)
        with SerialConsole(conn, scratch) as console:
            get_domain(conn, scratch).resume()
            console.wait_for(pattern, timeout)
            found = DISK_MARKER.search(console.transcript)
            result.marker = found.group(1) if found else None
        result.ok = True
    except VdiError as exc:
        result.error = str(exc)
    finally:
        if restored is not None or lookup_domain(conn, scratch) is not None:
            _remove_desktop(conn, scratch)
        result.seconds = round(time.monotonic() - started, 2)
        if record:
            with (state_dir() / "drills.jsonl").open("a") as log:
                log.write(json.dumps(asdict(result), sort_keys=True) + "\n")
    return result


def _remove_desktop(conn: libvirt.virConnect, name: str) -> None:
    dom = lookup_domain(conn, name)
    if dom is None:
        return
    record = read_record(dom) or DesktopRecord()
    undefine_domain(conn, name)
    for origin in record.disks:
        with contextlib.suppress(VdiError):
            delete_volume(get_pool(conn, origin.pool), origin.volume)
    refresh_pools(conn)


__all__ = [
    "BackupEntry",
    "BackupFile",
    "BackupManifest",
    "DrillResult",
    "RestoreResult",
    "create_backup",
    "delete_backup",
    "get_backup",
    "list_backups",
    "prune_backups",
    "restore_backup",
    "verify_backup",
    "verify_checksums",
]
