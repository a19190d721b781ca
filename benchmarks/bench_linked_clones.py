"""Provision 20 desktops from one golden image: linked clones vs full copies, in the same run.

Each desktop is a disk volume made from the golden volume plus a defined domain using it. The golden
image is a qcow2 with ``GOLDEN_MIB`` MiB of real data (an installed OS disk is larger still, so full
copies only get slower). Everything lives in a unique pool and is removed at the end.
``$HALLCLOUD_URI`` picks the hypervisor (default ``qemu:///system``).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import libvirt

from images.catalog import get_image
from vdi import settings
from vdi.conn import connection
from vdi.domain import define_domain, undefine_domain
from vdi.domain_plan import DiskSource, DomainRequest, plan_domain
from vdi.models import Pool
from vdi.storage import (
    default_pool_path,
    delete_pool,
    ensure_pool,
    full_copy,
    get_pool,
    linked_clone,
    upload_volume,
)

DESKTOPS = 20
GOLDEN_MIB = 512
DATA_MIB = 256


def _make_golden(work: Path) -> Path:
    raw = work / "golden.raw"
    with raw.open("wb") as out:
        out.truncate(GOLDEN_MIB * 1024**2)
        chunk = os.urandom(1024**2)
        for i in range(DATA_MIB):  # the first DATA_MIB MiB hold data, like an installed system
            out.seek(i * 1024**2)
            out.write(chunk)
    qcow2 = work / "golden.qcow2"
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(qcow2)], check=True)
    raw.unlink()
    return qcow2


def _provision(
    conn: libvirt.virConnect,
    pool_name: str,
    prefix: str,
    make_disk: Callable[[libvirt.virStoragePool, str, str], object],
) -> float:
    pool = get_pool(conn, pool_name)
    manifest = get_image("hallcloud-test-x86_64")
    started = time.perf_counter()
    for i in range(DESKTOPS):
        name = f"{prefix}-{i:02d}"
        make_disk(pool, "golden.qcow2", f"{name}.qcow2")
        define_domain(
            conn,
            plan_domain(
                manifest, DomainRequest(name=name, disks=[DiskSource(pool=pool_name, volume=f"{name}.qcow2")])
            ),
        )
    return (time.perf_counter() - started) / DESKTOPS


def run() -> str:
    uri = settings.libvirt_uri()
    run_id = f"hc-bench-{secrets.token_hex(3)}"
    with connection(uri) as conn:
        ensure_pool(conn, Pool(name=run_id, type="dir", target_path=default_pool_path(run_id)))
        try:
            with tempfile.TemporaryDirectory(prefix="hallcloud-bench-") as tmp:
                upload_volume(get_pool(conn, run_id), "golden.qcow2", _make_golden(Path(tmp)), fmt="qcow2")
            linked = _provision(conn, run_id, f"{run_id}-linked", linked_clone)
            full = _provision(conn, run_id, f"{run_id}-full", full_copy)
        finally:
            for kind in ("linked", "full"):
                for i in range(DESKTOPS):
                    undefine_domain(conn, f"{run_id}-{kind}-{i:02d}")
            delete_pool(conn, run_id, delete_volumes=True)
    rows = [
        ("method", "desktops", "s/desktop", "total s"),
        ("linked clone", str(DESKTOPS), f"{linked:.3f}", f"{linked * DESKTOPS:.2f}"),
        ("full copy", str(DESKTOPS), f"{full:.3f}", f"{full * DESKTOPS:.2f}"),
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    table = "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)
    return (
        f"golden image: qcow2, {GOLDEN_MIB} MiB virtual, {DATA_MIB} MiB of data; hypervisor {uri}\n"
        f"{table}\nfull copy / linked clone: {full / linked:.1f}x"
    )
