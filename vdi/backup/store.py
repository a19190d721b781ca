"""The backup pool as a store: backup ids, the sha256 manifest, listing, checking and deleting backups.

Layout and the completeness rule are in :mod:`vdi.backup`.
"""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import libvirt

from vdi.backup.streams import Progress, download, quiet, sha256_volume
from vdi.conn import libvirt_errors
from vdi.exceptions import ChecksumMismatch, InvalidSpec, NotFound
from vdi.render import parse_pool
from vdi.storage import delete_volume, get_pool, lookup_volume, upload_volume

__all__ = [
    "DATA_RE",
    "ID_SEPARATOR",
    "MANIFEST_SUFFIX",
    "BackupEntry",
    "BackupFile",
    "BackupManifest",
    "Origin",
    "backup_dir",
    "backup_id",
    "delete_backup",
    "desktop_of",
    "get_backup",
    "list_backups",
    "read_manifest",
    "remove_incomplete",
    "verify_checksums",
    "write_manifest",
]


MANIFEST_SUFFIX = ".manifest.json"
ID_SEPARATOR = "--"
DATA_RE = re.compile(r"^(?P<id>.+--\d{8}T\d{6}Z)\.(?P<dev>[a-z]+)\.qcow2$")
Origin = Literal["manual", "auto"]


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


def backup_dir(pool: libvirt.virStoragePool) -> str:
    with libvirt_errors(f"pool {pool.name()}", "read the pool"):
        spec = parse_pool(pool.XMLDesc(0))
    if spec.type not in ("dir", "netfs") or not spec.target_path:
        raise InvalidSpec(
            f"backup pool {pool.name()}",
            f"is a {spec.type} pool without a host directory",
            "use a dir or netfs pool of the storage tier as backup pool",
        )
    return spec.target_path


def read_manifest(conn: libvirt.virConnect, vol: libvirt.virStorageVol) -> BackupManifest:
    text = b"".join(download(conn, vol)).decode("utf-8", errors="replace")
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
                manifest = read_manifest(conn, pool.storageVolLookupByName(bid + MANIFEST_SUFFIX))
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
    conn: libvirt.virConnect, pool_name: str, manifest: BackupManifest, progress: Progress = quiet
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


def write_manifest(pool: libvirt.virStoragePool, manifest: BackupManifest) -> None:
    with tempfile.TemporaryDirectory(prefix="hallcloud-backup-") as tmp:
        local = Path(tmp) / "manifest.json"
        local.write_text(manifest.to_json())
        upload_volume(pool, manifest.id + MANIFEST_SUFFIX, local, fmt="raw", mode="0640")
