"""Idempotent operations on storage pools and volumes.

Pools: ``dir`` is the embedded default; ``netfs`` (NFS) and ``rbd`` (Ceph) are rendered and validated
the same way and become usable once the storage tier exists. Volumes: create, upload a local file by
stream (golden images, kernels, firmware), linked clone on a backing file, full copy, delete.
Every failed create undoes itself, so a refused request leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Literal

import libvirt

from vdi.conn import inactive_xml, is_local, libvirt_errors
from vdi.exceptions import Conflict, InvalidPoolPath, NotFound, VdiError
from vdi.models import BackingStore, Pool, Volume, differences
from vdi.render import parse_pool, parse_volume, pool_xml, volume_xml

__all__ = [
    "UPLOAD_CHUNK",
    "Outcome",
    "default_pool_path",
    "delete_pool",
    "delete_volume",
    "ensure_pool",
    "ensure_volume",
    "full_copy",
    "get_pool",
    "get_volume",
    "linked_clone",
    "lookup_pool",
    "lookup_volume",
    "upload_volume",
    "volume_names",
]


Outcome = Literal["created", "unchanged"]
UPLOAD_CHUNK = 4 * 1024 * 1024


# -- pools ------------------------------------------------------------------------------------------


def lookup_pool(conn: libvirt.virConnect, name: str) -> libvirt.virStoragePool | None:
    try:
        return conn.storagePoolLookupByName(name)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_STORAGE_POOL:
            return None
        raise


def get_pool(conn: libvirt.virConnect, name: str) -> libvirt.virStoragePool:
    """The active pool ``name``; :class:`NotFound` if it is not defined."""
    with libvirt_errors(f"pool {name}", "look up the pool"):
        pool = lookup_pool(conn, name)
    if pool is None:
        raise NotFound(f"pool {name}", "does not exist", "create it with ensure_pool() first")
    return pool


def ensure_pool(conn: libvirt.virConnect, want: Pool, *, start: bool = True) -> Outcome:
    """Make pool ``want.name`` exist with this definition (and, with ``start``, be built and active)."""
    label = f"pool {want.name}"
    _check_local_target(conn, want)
    with libvirt_errors(label, "look up the pool"):
        existing = lookup_pool(conn, want.name)
    if existing is not None:
        with libvirt_errors(label, "read the pool"):
            have = parse_pool(inactive_xml(existing, libvirt.VIR_STORAGE_XML_INACTIVE))
        diffs = differences(want, have)
        if diffs:
            raise Conflict(
                label,
                f"exists with a different definition ({'; '.join(diffs)})",
                f"delete it (`virsh pool-destroy {want.name}; virsh pool-undefine {want.name}`) or choose "
                "another name",
            )
        if start:
            with libvirt_errors(label, "start the pool"):
                if not existing.isActive():
                    existing.create()
        return "unchanged"
    with libvirt_errors(label, "define the pool", "correct the definition"):
        pool = conn.storagePoolDefineXML(pool_xml(want))
    if not start:
        return "created"
    try:
        with libvirt_errors(label, "build and start the pool", _pool_fix(want)):
            if want.type == "dir":
                pool.build(0)
            pool.create()
    except VdiError as exc:
        _undefine_pool_quietly(pool)
        if want.type == "dir" and "directory" in exc.problem.lower():
            raise InvalidPoolPath(
                label, f"target {want.target_path} is not a usable directory: {exc.problem}", _pool_fix(want)
            ) from exc
        raise
    return "created"


def _pool_fix(want: Pool) -> str:
    if want.type == "dir":
        return f"point the pool at a directory (or a path that does not exist yet), not {want.target_path}"
    if want.type == "netfs":
        return "check that the NFS server exports the directory and the mount point is free"
    return "check the Ceph monitors, pool name and the libvirt secret holding the key"


def _check_local_target(conn: libvirt.virConnect, want: Pool) -> None:
    """On a local hypervisor, refuse a dir pool whose path is a file before libvirt touches anything."""
    if want.type != "dir" or want.target_path is None or not is_local(conn):
        return
    target = Path(want.target_path)
    if target.exists() and not target.is_dir():
        raise InvalidPoolPath(
            f"pool {want.name}",
            f"target path {target} exists and is not a directory",
            "move the file away or choose another pool path",
        )


def delete_pool(conn: libvirt.virConnect, name: str, *, delete_volumes: bool = False) -> bool:
    """Stop and undefine pool ``name`` (with ``delete_volumes``: its volumes and directory too)."""
    label = f"pool {name}"
    with libvirt_errors(label, "delete the pool"):
        pool = lookup_pool(conn, name)
        if pool is None:
            return False
        if delete_volumes:
            if not pool.isActive():
                pool.create()
            pool.refresh(0)
            # clones first: a backing file must outlive the volumes that use it
            vols = [pool.storageVolLookupByName(n) for n in pool.listVolumes()]
            vols.sort(key=lambda v: parse_volume(v.XMLDesc(0)).backing is None)
            for vol in vols:
                vol.delete(0)
            if pool.isActive():
                pool.destroy()
            try:
                pool.delete(0)
            except libvirt.libvirtError as exc:
                if exc.get_error_code() != libvirt.VIR_ERR_NO_SUPPORT:
                    raise
        elif pool.isActive():
            pool.destroy()
        pool.undefine()
    return True


def _undefine_pool_quietly(pool: libvirt.virStoragePool) -> None:
    try:
        if pool.isActive():
            pool.destroy()
        pool.undefine()
    except libvirt.libvirtError:
        pass


# -- volumes ----------------------------------------------------------------------------------------


def lookup_volume(pool: libvirt.virStoragePool, name: str) -> libvirt.virStorageVol | None:
    try:
        return pool.storageVolLookupByName(name)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_STORAGE_VOL:
            return None
        raise


def get_volume(pool: libvirt.virStoragePool, name: str) -> Volume:
    label = f"volume {pool.name()}/{name}"
    with libvirt_errors(label, "read the volume"):
        vol = lookup_volume(pool, name)
        if vol is None:
            raise NotFound(label, "does not exist", "import or create it first")
        return parse_volume(vol.XMLDesc(0))


def ensure_volume(pool: libvirt.virStoragePool, want: Volume) -> Outcome:
    """Create volume ``want`` in ``pool`` unless an identical one exists; refuse a different one."""
    label = f"volume {pool.name()}/{want.name}"
    with libvirt_errors(label, "look up the volume"):
        existing = lookup_volume(pool, want.name)
        if existing is not None:
            _refuse_if_different(label, want, parse_volume(existing.XMLDesc(0)))
            return "unchanged"
        pool.createXML(volume_xml(want), 0)
    return "created"


def _refuse_if_different(label: str, want: Volume, have: Volume) -> None:
    diffs = differences(want, have)
    if diffs:
        raise Conflict(
            label,
            f"exists with a different definition ({'; '.join(diffs)})",
            "delete the volume or choose another name",
        )


def linked_clone(pool: libvirt.virStoragePool, golden: str, name: str) -> Outcome:
    """A qcow2 volume ``name`` whose backing file is the golden volume ``golden`` (copy-on-write)."""
    base = get_volume(pool, golden)
    assert base.path is not None
    return ensure_volume(
        pool,
        Volume(
            name=name,
            capacity_bytes=base.capacity_bytes,
            format="qcow2",
            backing=BackingStore(path=base.path, format=base.format),
        ),
    )


def full_copy(pool: libvirt.virStoragePool, golden: str, name: str) -> Outcome:
    """A standalone qcow2 copy ``name`` of the golden volume ``golden``."""
    label = f"volume {pool.name()}/{name}"
    base = get_volume(pool, golden)
    want = Volume(name=name, capacity_bytes=base.capacity_bytes, format="qcow2")
    with libvirt_errors(label, f"copy volume {golden}"):
        existing = lookup_volume(pool, name)
        if existing is not None:
            _refuse_if_different(label, want, parse_volume(existing.XMLDesc(0)))
            return "unchanged"
        source = pool.storageVolLookupByName(golden)
        pool.createXMLFrom(volume_xml(want), source, 0)
    return "created"


def upload_volume(
    pool: libvirt.virStoragePool,
    name: str,
    local_file: Path,
    *,
    fmt: Literal["qcow2", "raw"] = "raw",
    mode: str | None = None,
) -> str:
    """Upload ``local_file`` byte for byte into a new volume ``name``; returns the volume's path.

    The volume is created as raw with the file's size, streamed, and the pool refreshed so libvirt
    probes the real format. ``mode`` sets file permissions: files QEMU opens without libvirt relabelling
    them (UEFI loader code) must be world-readable (``"0644"``). Refuses an existing volume of that
    name; deletes a half-uploaded one.
    """
    label = f"volume {pool.name()}/{name}"
    size = local_file.stat().st_size
    conn = pool.connect()
    with libvirt_errors(label, "look up the volume"):
        if lookup_volume(pool, name) is not None:
            raise Conflict(label, "already exists", "delete it first or choose another name")
        blank = Volume(name=name, capacity_bytes=size, format="raw", allocation_bytes=0, mode=mode)
        vol = pool.createXML(volume_xml(blank), 0)
    try:
        with libvirt_errors(label, f"upload {local_file}"):
            stream = conn.newStream(0)
            try:
                vol.upload(stream, 0, size, 0)
                with local_file.open("rb") as src:
                    while chunk := src.read(UPLOAD_CHUNK):
                        view = memoryview(chunk)
                        while view:
                            sent = stream.send(view.tobytes())
                            view = view[sent:]
                stream.finish()
            except BaseException:
                with contextlib.suppress(libvirt.libvirtError):
                    stream.abort()
                raise
            pool.refresh(0)
            uploaded = pool.storageVolLookupByName(name)
            info = parse_volume(uploaded.XMLDesc(0))
    except BaseException:
        delete_volume(pool, name)
        raise
    if info.format != fmt and fmt == "qcow2":
        delete_volume(pool, name)
        raise VdiError(
            label,
            f"uploaded {local_file} but libvirt sees format {info.format}, not qcow2",
            "convert the image to qcow2 before uploading",
        )
    assert info.path is not None
    return info.path


def delete_volume(pool: libvirt.virStoragePool, name: str) -> bool:
    label = f"volume {pool.name()}/{name}"
    with libvirt_errors(label, "delete the volume"):
        vol = lookup_volume(pool, name)
        if vol is None:
            return False
        vol.delete(0)
    return True


def volume_names(pool: libvirt.virStoragePool) -> list[str]:
    with libvirt_errors(f"pool {pool.name()}", "list volumes"):
        pool.refresh(0)
        return sorted(pool.listVolumes())


def default_pool_path(name: str) -> str:
    return os.path.join("/var/lib/libvirt/images", name)
