"""The test guest's data disk: a small qcow2 holding an ext4 filesystem seeded on the host.

``mkfs.ext4 -d`` fills the filesystem from a directory without mounting anything, and ``qemu-img
convert`` turns the raw file into qcow2.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

__all__ = ["DISK_LABEL", "DISK_SIZE_MIB", "DISK_UUID", "GOLDEN_MARKER", "NOTES", "make_data_disk"]


DISK_SIZE_MIB = 64
GOLDEN_MARKER = "golden"
NOTES = (
    "HallCloud tiny test image data disk.\n"
    "marker holds the text the guest prints as DISK-MARKER; 'hc write TEXT' replaces it.\n"
)
DISK_LABEL = "hcdata"
# a fixed UUID keeps the image reproducible; the guest mounts /dev/vda, never by UUID
DISK_UUID = "6c0b7f6e-5a1d-4e0e-9b57-68616c6c6364"


def make_data_disk(target: Path, size_mib: int = DISK_SIZE_MIB) -> None:
    """Write a qcow2 at ``target`` with an ext4 filesystem holding ``marker`` and ``notes.txt``."""
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".disk-") as tmp:
        seed = Path(tmp) / "seed"
        seed.mkdir()
        (seed / "marker").write_text(GOLDEN_MARKER + "\n")
        (seed / "notes.txt").write_text(NOTES)
        raw = Path(tmp) / "disk.raw"
        with raw.open("wb") as f:
            f.truncate(size_mib * 1024 * 1024)
        _run(
            [
                "mkfs.ext4",
                "-q",
                "-F",
                "-L",
                DISK_LABEL,
                "-U",
                DISK_UUID,
                "-E",
                "root_owner=0:0",
                "-d",
                str(seed),
                str(raw),
            ]
        )
        _run(["qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", str(raw), str(target)])


def _run(argv: list[str]) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(
            f"test image disk: {argv[0]} failed (exit {proc.returncode}): {proc.stderr.strip()}; "
            "is e2fsprogs (>= 1.43, for mkfs.ext4 -d) and qemu-utils installed?"
        )
