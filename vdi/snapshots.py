"""Snapshots of desktops: create, list, revert (instant restore), delete, prune by retention.

Which kind of snapshot a desktop gets depends on its firmware, decided by :func:`snapshot_kind`:

- **BIOS guests: internal** snapshots (stored inside the qcow2 disk; with the memory when running).
- **UEFI/pflash guests: external** snapshots: the disk gets a new overlay file and, when running, the
  memory goes to a file next to it. QEMU cannot take internal snapshots of a guest whose NVRAM is a
  raw pflash file. libvirt reverts an external snapshot only when the disk is a plain file, so before
  the first one vdi records the disk's pool volume in the desktop's metadata and moves the disk onto a
  file overlay (a metadata-less "anchor" snapshot); reset and restore put it back on its volume.

Deleting an external snapshot lets libvirt block-commit the overlay into its base and remove the
overlay and memory files. A snapshot that includes memory is consistent without freezing the guest's
file systems (a freeze would be captured in the memory too, and the reverted guest would wake up
frozen); disk-only snapshots of running guests are quiesced through the QEMU guest agent when the guest
has one, otherwise taken crash-consistent with a note saying so.
"""

from __future__ import annotations

import contextlib
import posixpath
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Literal

import libvirt

from vdi.conn import is_test_driver, libvirt_errors
from vdi.desktops import (
    DesktopDisk,
    definition,
    delete_files,
    desktop_disks,
    desktop_lock,
    get_desktop,
    present_disks,
    remember_origin,
)
from vdi.exceptions import InvalidSpec, NotFound
from vdi.models import Domain, Snapshot, SnapshotDisk
from vdi.policy import AUTO_PREFIX, Retention, RetentionPlan, plan_retention
from vdi.render import parse_snapshot, snapshot_xml

SnapshotKind = Literal["internal", "external"]
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
ANCHOR = "anchor"


@dataclass
class SnapshotInfo:
    desktop: str
    name: str
    created: datetime
    kind: SnapshotKind
    with_memory: bool
    state: str
    """The desktop's state when taken: ``running`` or ``shutoff``."""
    parent: str | None
    current: bool
    description: str | None = None


@dataclass
class SnapshotResult:
    info: SnapshotInfo
    seconds: float
    notes: list[str] = field(default_factory=list)


def snapshot_kind(domain: Domain) -> SnapshotKind:
    """External for guests with pflash firmware or NVRAM (UEFI), internal for BIOS guests."""
    loader = domain.os.loader
    if domain.os.nvram is not None or (loader is not None and loader.type == "pflash"):
        return "external"
    return "internal"


def new_name(prefix: str = "manual", now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%d-%H%M%S")
    return f"{prefix.rstrip('-')}-{stamp}"


def _check_name(desktop: str, name: str) -> None:
    if not NAME_RE.match(name) or name == ANCHOR:
        raise InvalidSpec(
            f"snapshot {name!r} of desktop {desktop}",
            "is not a valid snapshot name (letters, digits, '.', '_', '-'; at most 64)",
            "choose another name, e.g. before-update",
        )


# -- guest agent ------------------------------------------------------------------------------------


def guest_agent_freeze(dom: libvirt.virDomain) -> tuple[bool, str]:
    """Freeze the guest's file systems through the QEMU guest agent; (frozen, note)."""
    try:
        count = dom.fsFreeze()
    except libvirt.libvirtError as exc:
        code = exc.get_error_code()
        if code in (
            libvirt.VIR_ERR_ARGUMENT_UNSUPPORTED,
            libvirt.VIR_ERR_OPERATION_UNSUPPORTED,
            libvirt.VIR_ERR_NO_SUPPORT,
        ):
            return False, "not quiesced: the guest has no QEMU guest agent channel (crash-consistent copy)"
        return False, f"not quiesced: the guest agent did not answer ({exc.get_error_message()})"
    return True, f"quiesced: froze {count} file system(s) through the guest agent"


def guest_agent_thaw(dom: libvirt.virDomain) -> None:
    with contextlib.suppress(libvirt.libvirtError):
        dom.fsThaw()


# -- create -----------------------------------------------------------------------------------------


def create_snapshot(
    conn: libvirt.virConnect,
    desktop: str,
    name: str | None = None,
    *,
    description: str | None = None,
    memory: bool = True,
    quiesce: bool = True,
    lock: bool = True,
) -> SnapshotResult:
    """Snapshot ``desktop`` (running or stopped); see the module docstring for the kind it gets.

    ``memory=False`` takes a disk-only snapshot of a running UEFI desktop (quiesced when possible);
    BIOS (internal) snapshots of a running desktop always include its memory.
    """
    name = name or new_name()
    _check_name(desktop, name)
    dom = get_desktop(conn, desktop)
    with desktop_lock(conn, desktop, f"snapshot {name}") if lock else contextlib.nullcontext():
        if _lookup(dom, name) is not None:
            raise InvalidSpec(
                f"snapshot {name} of desktop {desktop}",
                "already exists",
                "choose another name or delete the old snapshot first",
            )
        started = time.monotonic()
        kind = snapshot_kind(definition(dom))
        running = bool(dom.isActive())
        notes: list[str] = []
        flags = 0
        if kind == "internal":
            disks = [SnapshotDisk(d.dev, "internal") for d in present_disks(conn, dom)]
            spec = Snapshot(name, description, memory="internal" if running else "no", disks=disks)
            if running:
                notes.append("memory included: consistent without quiescing")
        else:
            present_disks(conn, dom)  # refuse a missing volume before anchoring anything
            if not is_test_driver(conn):
                _anchor(conn, dom)
            disks = [
                SnapshotDisk(d.dev, "external", _overlay(d, desktop, name)) for d in present_disks(conn, dom)
            ]
            with_memory = running and memory
            mem_file = posixpath.join(posixpath.dirname(disks[0].source_file or "/"), f"{desktop}.{name}.mem")
            spec = Snapshot(
                name,
                description,
                memory="external" if with_memory else "no",
                memory_file=mem_file if with_memory else None,
                disks=disks,
            )
            if with_memory:
                notes.append("memory included: consistent without quiescing")
            else:
                flags |= libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY
        frozen = False
        if running and spec.memory == "no" and kind == "external":
            if quiesce:
                frozen, note = guest_agent_freeze(dom)
                notes.append(note)
            else:
                notes.append("not quiesced: the policy turns quiescing off (crash-consistent)")
        try:
            with libvirt_errors(
                f"snapshot {name} of desktop {desktop}",
                "create the snapshot",
                "check free space in the desktop's pool and the QEMU log",
            ):
                snap = dom.snapshotCreateXML(snapshot_xml(spec), flags)
        finally:
            if frozen:
                guest_agent_thaw(dom)
        info = _info(desktop, snap)
    return SnapshotResult(info, time.monotonic() - started, notes)


def _overlay(disk: DesktopDisk, desktop: str, name: str) -> str:
    return posixpath.join(posixpath.dirname(disk.path), f"{desktop}.{name}.{disk.dev}.qcow2")


def _anchor(conn: libvirt.virConnect, dom: libvirt.virDomain) -> None:
    """Move disks defined on pool volumes onto file overlays (recorded first), so libvirt can revert."""
    on_volumes = [d for d in desktop_disks(conn, dom) if d.defined_as_volume]
    if not on_volumes:
        return
    remember_origin(conn, dom)
    stamp = int(time.time())
    spec = Snapshot(
        ANCHOR,
        memory="no",
        disks=[
            SnapshotDisk(
                d.dev,
                "external",
                posixpath.join(posixpath.dirname(d.path), f"{dom.name()}.{ANCHOR}-{stamp}.{d.dev}.qcow2"),
            )
            for d in on_volumes
        ],
    )
    flags = libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY | libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA
    with libvirt_errors(f"desktop {dom.name()}", "move its disk onto a file overlay for external snapshots"):
        dom.snapshotCreateXML(snapshot_xml(spec), flags)


# -- list -------------------------------------------------------------------------------------------


def _lookup(dom: libvirt.virDomain, name: str) -> libvirt.virDomainSnapshot | None:
    try:
        return dom.snapshotLookupByName(name, 0)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN_SNAPSHOT:
            return None
        raise


def _get(dom: libvirt.virDomain, desktop: str, name: str) -> libvirt.virDomainSnapshot:
    with libvirt_errors(f"snapshot {name} of desktop {desktop}", "look up the snapshot"):
        snap = _lookup(dom, name)
    if snap is None:
        known = ", ".join(s.name for s in list_snapshots(dom.connect(), desktop)) or "none"
        raise NotFound(
            f"snapshot {name} of desktop {desktop}",
            f"does not exist (snapshots: {known})",
            f"list them with `hall desktop snapshots {desktop}`",
        )
    return snap


def _info(desktop: str, snap: libvirt.virDomainSnapshot) -> SnapshotInfo:
    parsed = parse_snapshot(snap.getXMLDesc(0))
    kinds = {d.snapshot for d in parsed.disks}
    try:
        current = bool(snap.isCurrent(0))
    except libvirt.libvirtError:
        current = False
    return SnapshotInfo(
        desktop=desktop,
        name=parsed.name,
        created=datetime.fromtimestamp(parsed.creation_time or 0, UTC),
        kind="external" if "external" in kinds or parsed.memory == "external" else "internal",
        with_memory=parsed.memory != "no",
        state=parsed.state or "unknown",
        parent=parsed.parent,
        current=current,
        description=parsed.description,
    )


def list_snapshots(conn: libvirt.virConnect, desktop: str) -> list[SnapshotInfo]:
    """The desktop's snapshots, oldest first."""
    dom = get_desktop(conn, desktop)
    with libvirt_errors(f"desktop {desktop}", "list snapshots"):
        infos = [_info(desktop, s) for s in dom.listAllSnapshots(0)]
    return sorted(infos, key=lambda i: (i.created, i.name))


# -- revert -----------------------------------------------------------------------------------------


@dataclass
class RevertResult:
    desktop: str
    snapshot: str
    seconds: float
    running: bool


def revert_snapshot(
    conn: libvirt.virConnect, desktop: str, name: str, *, running: bool | None = None, lock: bool = True
) -> RevertResult:
    """Instant restore: put the desktop back to snapshot ``name``, discarding everything since.

    ``running=None`` leaves a running desktop running (resumed from the snapshot's memory, or booted
    when the snapshot has none) and a stopped one in the snapshot's own state. Close serial console
    streams on the desktop first: libvirt 11.3's daemon can crash when a console stream is open while
    QEMU is replaced during a revert.
    """
    dom = get_desktop(conn, desktop)
    with desktop_lock(conn, desktop, f"revert to snapshot {name}") if lock else contextlib.nullcontext():
        snap = _get(dom, desktop, name)
        keep_running = bool(dom.isActive()) if running is None else running
        flags = 0
        if keep_running:
            flags |= libvirt.VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING
        started = time.monotonic()
        with libvirt_errors(
            f"snapshot {name} of desktop {desktop}",
            "revert to the snapshot",
            "read the QEMU log in /var/log/libvirt/qemu; the desktop is unchanged if the "
            "revert failed before QEMU restarted",
        ):
            dom.revertToSnapshot(snap, flags)
            if running is False and dom.isActive():
                dom.destroy()
        seconds = time.monotonic() - started
        return RevertResult(desktop, name, seconds, bool(dom.isActive()))


# -- delete and prune -------------------------------------------------------------------------------


def delete_snapshot(conn: libvirt.virConnect, desktop: str, name: str, *, lock: bool = True) -> None:
    """Delete snapshot ``name``: internal ones from the qcow2, external ones by block commit + cleanup."""
    dom = get_desktop(conn, desktop)
    with desktop_lock(conn, desktop, f"delete snapshot {name}") if lock else contextlib.nullcontext():
        snap = _get(dom, desktop, name)
        _delete(dom, desktop, snap)


def _delete(
    dom: libvirt.virDomain, desktop: str, snap: libvirt.virDomainSnapshot, metadata_only: bool = False
) -> None:
    name = snap.getName()
    flags = libvirt.VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY if metadata_only else 0
    with libvirt_errors(
        f"snapshot {name} of desktop {desktop}",
        "delete the snapshot",
        "delete its child snapshots first, or check the QEMU log",
    ):
        snap.delete(flags)


def delete_all_snapshots(conn: libvirt.virConnect, desktop: str, *, discard: bool = False) -> list[str]:
    """Delete every snapshot of ``desktop``, newest first; returns their names.

    ``discard=True`` (the disk is about to be replaced, desktop stopped): drop the metadata and delete
    the overlay and memory files without committing them, which would only be wasted work.
    """
    dom = get_desktop(conn, desktop)
    removed: list[str] = []
    files: list[str] = []
    for _ in range(1000):
        with libvirt_errors(f"desktop {desktop}", "list snapshots"):
            snaps = dom.listAllSnapshots(libvirt.VIR_DOMAIN_SNAPSHOT_LIST_LEAVES)
        if not snaps:
            break
        for snap in snaps:
            if discard:
                parsed = parse_snapshot(snap.getXMLDesc(0))
                files += [d.source_file for d in parsed.disks if d.snapshot == "external" and d.source_file]
                if parsed.memory_file:
                    files.append(parsed.memory_file)
            _delete(dom, desktop, snap, metadata_only=discard)
            removed.append(snap.getName())
    if files:
        current = {d.path for d in desktop_disks(conn, dom)}
        delete_files(conn, [f for f in files if f not in current])
    return removed


def prune_snapshots(
    conn: libvirt.virConnect,
    desktop: str,
    retention: Retention,
    *,
    tz: tzinfo | None = None,
    dry_run: bool = False,
    lock: bool = True,
) -> RetentionPlan:
    """Delete the desktop's scheduled (``auto-``) snapshots that ``retention`` does not keep."""
    infos = list_snapshots(conn, desktop)
    plan = plan_retention([(i.name, i.created) for i in infos], retention, tz)
    if dry_run or not plan.delete:
        return plan
    dom = get_desktop(conn, desktop)
    with desktop_lock(conn, desktop, "prune snapshots") if lock else contextlib.nullcontext():
        for name in plan.delete:
            snap = _lookup(dom, name)
            if snap is not None:
                _delete(dom, desktop, snap)
    return plan


def scheduled_name(now: datetime | None = None) -> str:
    return new_name(AUTO_PREFIX, now)


__all__ = [
    "RevertResult",
    "SnapshotInfo",
    "SnapshotKind",
    "SnapshotResult",
    "create_snapshot",
    "delete_all_snapshots",
    "delete_snapshot",
    "guest_agent_freeze",
    "guest_agent_thaw",
    "list_snapshots",
    "new_name",
    "prune_snapshots",
    "revert_snapshot",
    "scheduled_name",
    "snapshot_kind",
]
