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

from vdi.backup.create import create_backup
from vdi.backup.drill import DrillResult, verify_backup
from vdi.backup.restore import RestoreResult, restore_backup
from vdi.backup.retention import prune_backups
from vdi.backup.store import (
    DATA_RE,
    MANIFEST_SUFFIX,
    BackupEntry,
    BackupFile,
    BackupManifest,
    backup_id,
    delete_backup,
    desktop_of,
    get_backup,
    list_backups,
    verify_checksums,
)

__all__ = [
    "DATA_RE",
    "MANIFEST_SUFFIX",
    "BackupEntry",
    "BackupFile",
    "BackupManifest",
    "DrillResult",
    "RestoreResult",
    "backup_id",
    "create_backup",
    "delete_backup",
    "desktop_of",
    "get_backup",
    "list_backups",
    "prune_backups",
    "restore_backup",
    "verify_backup",
    "verify_checksums",
]
