"""Snapshot, revert, backup, restore from backup and reset from golden, for a desktop with a 1 GiB disk.

One desktop per firmware kind, booted from the tiny test image under TCG (256 MiB of guest memory):
x86_64 with BIOS (internal snapshots) and aarch64 with UEFI (external disk + memory snapshots). Each
desktop's disk is a standalone 1 GiB qcow2: the test image's file system plus ``DATA_MIB`` MiB of
random data written on the host before boot. Every operation runs once on the running desktop:

- snapshot: disk + memory; revert: back to it while running;
- backup: live copy (libvirt backup API) + sha256 of the copy + manifest;
- restore: verify the backup's sha256, stop the desktop, stream the copy onto its volume, start it;
- reset: a fresh linked clone of the golden test image in place of the disk.

``$HALLCLOUD_URI`` picks the hypervisor (default ``qemu:///system``). Everything is created under one
``hc-bs-<hex>`` prefix and removed at the end.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import tempfile
import time
from pathlib import Path

from vdi import settings
from vdi.backup import create_backup, restore_backup
from vdi.conn import connection
from vdi.domain import undefine_domain
from vdi.models import Pool
from vdi.recovery import reset_desktop
from vdi.snapshots import create_snapshot, revert_snapshot
from vdi.storage import default_pool_path, delete_pool, delete_volume, ensure_pool, get_pool, upload_volume
from vdi.testguest import boot_to_marker, build_test_image, define_test_guest, stage_test_image

DISK_GIB = 1
DATA_MIB = 512
ARCHES = {"x86_64": "BIOS, internal", "aarch64": "UEFI, external"}


def _data_disk(source: Path, work: Path) -> Path:
    """The test image's disk grown to 1 GiB, with DATA_MIB MiB of random data after its file system."""
    raw = work / "disk.raw"
    subprocess.run(["qemu-img", "convert", "-f", "qcow2", "-O", "raw", str(source), str(raw)], check=True)
    with raw.open("r+b") as out:
        out.truncate(DISK_GIB * 1024**3)
        out.seek(256 * 1024**2)
        for _ in range(DATA_MIB):
            out.write(os.urandom(1024**2))
    qcow2 = work / "disk.qcow2"
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(qcow2)], check=True)
    raw.unlink()
    return qcow2


def run() -> str:
    uri = settings.libvirt_uri()
    run_id = f"hc-bs-{secrets.token_hex(3)}"
    pool_name, backups = f"{run_id}-pool", f"{run_id}-bk"
    os.environ.setdefault(settings.STATE_DIR_ENV, tempfile.mkdtemp(prefix="hallcloud-bench-state-"))
    rows: dict[str, dict[str, str]] = {}
    with connection(uri) as conn, tempfile.TemporaryDirectory(prefix="hallcloud-bench-") as tmp:
        try:
            for name in (pool_name, backups):
                ensure_pool(conn, Pool(name=name, target_path=default_pool_path(name)))
            pool = get_pool(conn, pool_name)
            for arch in ARCHES:
                image = build_test_image(arch)
                staged = stage_test_image(conn, pool_name, image)
                desk = f"{run_id}-{arch.split('_')[0][:5]}"
                work = Path(tmp) / arch
                work.mkdir()
                define_test_guest(conn, desk, staged, [], memory_mib=256)
                delete_volume(pool, f"{desk}.qcow2")  # the linked clone makes way for the 1 GiB data disk
                upload_volume(pool, f"{desk}.qcow2", _data_disk(image.disk, work), fmt="qcow2")
                _result, console = boot_to_marker(conn, desk, arch)
                console.command("hc write A", "MARKER-WRITTEN A")
                console.close()
                col: dict[str, str] = {}
                clock = time.monotonic()
                create_snapshot(conn, desk, "bench")
                col["snapshot"] = f"{time.monotonic() - clock:.2f}"
                clock = time.monotonic()
                revert_snapshot(conn, desk, "bench")
                col["revert"] = f"{time.monotonic() - clock:.2f}"
                clock = time.monotonic()
                manifest = create_backup(conn, desk, backups)
                col["backup"] = f"{time.monotonic() - clock:.2f}"
                col["backup size MiB"] = f"{sum(f.size for f in manifest.files) / 2**20:.0f}"
                clock = time.monotonic()
                restore_backup(conn, backups, manifest.id)
                col["restore"] = f"{time.monotonic() - clock:.2f}"
                clock = time.monotonic()
                reset_desktop(conn, desk, golden=f"{pool_name}/{staged.golden_volume}")
                col["reset"] = f"{time.monotonic() - clock:.2f}"
                rows[arch] = col
                undefine_domain(conn, desk)
        finally:
            for dom in conn.listAllDomains():
                if dom.name().startswith(run_id):
                    undefine_domain(conn, dom.name())
            for name in (pool_name, backups):
                delete_pool(conn, name, delete_volumes=True)
    ops = ["snapshot", "revert", "backup", "backup size MiB", "restore", "reset"]
    header = f"{'operation (seconds)':22}" + "".join(f"{a + ' (' + k + ')':>28}" for a, k in ARCHES.items())
    lines = [
        f"desktop: {DISK_GIB} GiB qcow2 disk with {DATA_MIB} MiB of random data, 256 MiB guest memory, TCG",
        header,
        "-" * len(header),
    ]
    for op in ops:
        lines.append(f"{op:22}" + "".join(f"{rows.get(a, {}).get(op, '-'):>28}" for a in ARCHES))
    return "\n".join(lines)


if __name__ == "__main__":
    print(run())
