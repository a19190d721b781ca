"""A deterministic ``newc`` cpio writer for the test guest's initramfs (no root, no mknod needed).

Entries are added in memory (directories, files, symlinks, character devices) with uid/gid 0 and
mtime 0, so the same inputs always give the same bytes; :meth:`Initramfs.write_gz` gzips the archive.
"""

from __future__ import annotations

import gzip
import stat
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Initramfs"]


@dataclass(frozen=True)
class _Entry:
    mode: int
    data: bytes = b""
    rdev: tuple[int, int] = (0, 0)


@dataclass
class Initramfs:
    """An initramfs being assembled; paths are absolute inside the guest (``/init``, ``/bin/busybox``)."""

    entries: dict[str, _Entry] = field(default_factory=dict)

    def _parents(self, path: str) -> None:
        parts = path.strip("/").split("/")[:-1]
        for i in range(1, len(parts) + 1):
            parent = "/" + "/".join(parts[:i])
            self.entries.setdefault(parent, _Entry(stat.S_IFDIR | 0o755))

    def add_dir(self, path: str, mode: int = 0o755) -> None:
        self._parents(path)
        self.entries[path] = _Entry(stat.S_IFDIR | mode)

    def add_file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        self._parents(path)
        self.entries[path] = _Entry(stat.S_IFREG | mode, data)

    def add_symlink(self, path: str, target: str) -> None:
        self._parents(path)
        self.entries[path] = _Entry(stat.S_IFLNK | 0o777, target.encode())

    def add_chardev(self, path: str, major: int, minor: int, mode: int = 0o600) -> None:
        self._parents(path)
        self.entries[path] = _Entry(stat.S_IFCHR | mode, rdev=(major, minor))

    def to_cpio(self) -> bytes:
        """The archive in SVR4 ``newc`` format, entries sorted so parents precede children."""
        out = bytearray()
        for ino, path in enumerate(sorted(self.entries), start=1):
            out += _header(path.lstrip("/"), self.entries[path], ino)
        out += _header("TRAILER!!!", _Entry(0), 0)
        out += b"\0" * (-len(out) % 512)
        return bytes(out)

    def write_gz(self, target: Path) -> None:
        with target.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=9) as gz:
            gz.write(self.to_cpio())


def _pad4(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def _header(name: str, entry: _Entry, ino: int) -> bytes:
    name_bytes = name.encode() + b"\0"
    nlink = 2 if stat.S_ISDIR(entry.mode) else 1
    fields = (
        ino,
        entry.mode,
        0,
        0,
        nlink,
        0,
        len(entry.data),
        0,
        0,
        entry.rdev[0],
        entry.rdev[1],
        len(name_bytes),
        0,
    )
    head = b"070701" + b"".join(f"{value:08x}".encode() for value in fields)
    # the name is padded so that header + name is a multiple of 4, then the data is padded
    return _pad4(head + name_bytes) + _pad4(entry.data)
