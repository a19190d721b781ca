"""Volume bytes through libvirt streams: download, sha256, copy into a new volume, with progress.

Everything goes through the libvirt connection, so it works on remote hypervisors as well.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable, Iterator

import libvirt

from vdi.conn import libvirt_errors
from vdi.models import Volume
from vdi.render import volume_xml
from vdi.storage import delete_volume

__all__ = ["CHUNK", "Progress", "copy_volume", "download", "quiet", "sha256_volume"]


CHUNK = 4 * 1024 * 1024
Progress = Callable[[str, int | None, int | None], None]
"""``progress(what, done_bytes, total_bytes)``; bytes are None for plain status messages."""


def quiet(_what: str, _done: int | None, _total: int | None) -> None:
    pass


def _physical_size(vol: libvirt.virStorageVol) -> int:
    try:
        return int(vol.infoFlags(libvirt.VIR_STORAGE_VOL_GET_PHYSICAL)[2])
    except (libvirt.libvirtError, AttributeError):
        return int(vol.info()[2])


def download(conn: libvirt.virConnect, vol: libvirt.virStorageVol) -> Iterator[bytes]:
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
    conn: libvirt.virConnect, vol: libvirt.virStorageVol, progress: Progress = quiet, what: str = "checksum"
) -> tuple[str, int]:
    """(sha256, size) of a volume's bytes, read through a libvirt stream."""
    digest = hashlib.sha256()
    total = _physical_size(vol)
    done = 0
    last = 0.0
    for chunk in download(conn, vol):
        digest.update(chunk)
        done += len(chunk)
        if time.monotonic() - last > 0.5:
            progress(what, done, total)
            last = time.monotonic()
    progress(what, done, total)
    return digest.hexdigest(), done


def copy_volume(
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
                for chunk in download(conn, src):
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
