"""Bringing an existing desktop back: reset from its golden image, and the one disk-replacement sequence.

Reset (:func:`reset_desktop`) and restore from backup onto the same desktop
(:func:`vdi.backup.restore.restore_backup`) both give a desktop new disk contents. They share one
sequence, :func:`replace_disks`: stop the desktop, discard its snapshots (they describe the disk that is
being replaced), put its disks back on the pool volumes its record names (external snapshots had moved
them onto file overlays, see :mod:`vdi.snapshots`), delete those overlays, write the volumes, record the
origin and start the desktop again if it was running. Callers hold the desktop's lock
(:func:`vdi.desktops.desktop_lock`).

This module sits above :mod:`vdi.desktops` (disks, records, locks) and :mod:`vdi.snapshots`, so neither
of those needs the other's operations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import libvirt

from vdi.desktops import (
    delete_files,
    desktop_lock,
    get_desktop,
    overlays_above_origins,
    redefine_disks_on_volumes,
    remember_origin,
    write_record,
)
from vdi.domain import start_domain, stop_domain
from vdi.exceptions import InvalidSpec, NotFound
from vdi.models import DesktopRecord
from vdi.snapshots import delete_all_snapshots
from vdi.storage import delete_volume, get_pool, linked_clone, lookup_volume

__all__ = ["DiskReplacement", "ResetResult", "replace_disks", "reset_desktop"]

Progress = Callable[[str], None]


@dataclass
class DiskReplacement:
    removed_snapshots: list[str]
    running: bool
    """The desktop runs again afterwards."""


def replace_disks(
    conn: libvirt.virConnect,
    dom: libvirt.virDomain,
    record: DesktopRecord,
    write_volumes: Callable[[], None],
    *,
    start: bool | None = None,
) -> DiskReplacement:
    """Give desktop ``dom`` new disk contents on the volumes ``record.disks`` names.

    Stops the desktop, discards every snapshot, points its disks back at those volumes, deletes the
    snapshot overlays above them, calls ``write_volumes`` (which fills the volumes, and may still
    complete ``record``), writes ``record`` into the domain's metadata, and starts the desktop again
    if it was running (``start`` overrides). The caller holds the desktop's lock.
    """
    name = dom.name()
    was_running = bool(dom.isActive())
    stop_domain(conn, name)
    removed = delete_all_snapshots(conn, name, discard=True)
    tops = overlays_above_origins(conn, dom, record)
    redefine_disks_on_volumes(conn, dom, record)
    delete_files(conn, tops)
    write_volumes()
    write_record(get_desktop(conn, name), record)
    run = was_running if start is None else start
    if run:
        start_domain(conn, name)
    return DiskReplacement(removed, run)


# -- reset ------------------------------------------------------------------------------------------


@dataclass
class ResetResult:
    desktop: str
    golden: str
    restarted: bool
    removed_snapshots: list[str]


def reset_desktop(
    conn: libvirt.virConnect,
    name: str,
    *,
    golden: str | None = None,
    progress: Progress | None = None,
) -> ResetResult:
    """Re-create the desktop's disk as a fresh linked clone of its golden image.

    Everything on the disk and every snapshot of the desktop is discarded (backups are kept). The
    golden volume comes from ``golden`` (``pool/volume`` or a volume in the disk's pool), else from the
    desktop's record, else from the disk's backing file. A running desktop is started again after.
    """
    say = progress or (lambda _m: None)
    dom = get_desktop(conn, name)
    with desktop_lock(conn, name, "reset the desktop"):
        record = remember_origin(conn, dom)
        if not record.disks:
            raise InvalidSpec(
                f"desktop {name}",
                "has no disk defined on a pool volume",
                "reset works on desktops whose disk is a linked clone in a pool",
            )
        origin = record.disks[0]
        gpool, gvol = _golden_of(record, golden, origin.pool, name)
        if gpool != origin.pool:
            raise InvalidSpec(
                f"desktop {name}",
                f"golden volume {gpool}/{gvol} is not in the disk's pool {origin.pool}",
                "import the golden image into that pool",
            )
        pool = get_pool(conn, gpool)
        if lookup_volume(pool, gvol) is None:
            raise NotFound(
                f"golden volume {gpool}/{gvol}",
                "does not exist",
                "import the golden image again (`hall images import`) or pass --golden",
            )
        say(f"stopping {name}" if dom.isActive() else f"{name} is stopped")

        def clone_golden() -> None:
            say(f"re-creating {origin.pool}/{origin.volume} as a linked clone of {gvol}")
            delete_volume(pool, origin.volume)
            linked_clone(pool, gvol, origin.volume)
            record.golden_pool, record.golden_volume = gpool, gvol

        replaced = replace_disks(conn, dom, record, clone_golden)
    return ResetResult(name, f"{gpool}/{gvol}", replaced.running, replaced.removed_snapshots)


def _golden_of(record: DesktopRecord, golden: str | None, disk_pool: str, name: str) -> tuple[str, str]:
    if golden:
        pool, _, vol = golden.rpartition("/")
        return (pool or disk_pool), vol
    if record.golden_pool and record.golden_volume:
        return record.golden_pool, record.golden_volume
    raise InvalidSpec(
        f"desktop {name}",
        "does not know its golden image (its disk has no backing file)",
        "pass the golden volume: --golden POOL/VOLUME",
    )
