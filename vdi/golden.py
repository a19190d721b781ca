"""The golden image pipeline: fetch, verify sha256, decompress, convert to qcow2, upload into a pool.

Every step before the upload happens in a private temporary directory, and the checksum is verified
before any libvirt object exists, so a mismatch (or any other failure) leaves nothing behind.
A golden volume's name carries the first 12 hex digits of its source sha256
(``openeuler-24.03-lts-x86_64-1a2b3c4d5e6f.qcow2``): an existing volume of that name holds the same
bytes by construction, which is what makes the import idempotent.
"""

from __future__ import annotations

import gzip
import hashlib
import lzma
import shutil
import subprocess
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import libvirt

from images.catalog import DownloadSource, ImageManifest, LocalBuildSource, VendorIsoSource
from vdi.conn import libvirt_errors
from vdi.exceptions import ChecksumMismatch, ImageConversionFailed, InvalidSpec, NotFound
from vdi.storage import get_pool, lookup_volume, upload_volume

__all__ = [
    "CHUNK",
    "Compression",
    "GoldenImage",
    "convert_to_qcow2",
    "decompress",
    "expected_sha256",
    "fetch",
    "golden_volume_name",
    "import_catalog_image",
    "import_golden",
    "sha256_file",
    "verify_sha256",
]


Compression = Literal["none", "xz", "gz"]
CHUNK = 4 * 1024 * 1024


@dataclass
class GoldenImage:
    volume: str
    path: str
    sha256: str
    outcome: Literal["created", "unchanged"]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as src:
        while chunk := src.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def golden_volume_name(image_name: str, sha256: str) -> str:
    return f"{image_name}-{sha256[:12]}.qcow2"


def verify_sha256(path: Path, expected: str, label: str) -> str:
    actual = sha256_file(path)
    if actual != expected.lower():
        raise ChecksumMismatch(
            label,
            f"sha256 of {path} is {actual}, the catalog expects {expected}",
            "download the image again; if the vendor republished it, update the manifest's sha256",
        )
    return actual


def fetch(url_or_path: str, dest_dir: Path) -> Path:
    """A local copy of ``url_or_path`` (http(s):// or file:// URL, or a plain path) in ``dest_dir``."""
    if "://" not in url_or_path:
        path = Path(url_or_path)
        if not path.is_file():
            raise NotFound(f"image file {path}", "does not exist", "check the path")
        return path
    target = dest_dir / (url_or_path.rstrip("/").rsplit("/", 1)[-1] or "download")
    try:
        with urllib.request.urlopen(url_or_path, timeout=60) as response, target.open("wb") as out:
            shutil.copyfileobj(response, out, CHUNK)
    except OSError as exc:
        raise NotFound(
            f"image URL {url_or_path}",
            f"cannot be downloaded: {exc}",
            "check the URL and network access, or pass a local copy with --file",
        ) from exc
    return target


def expected_sha256(source: DownloadSource, work: Path, file_name: str) -> str:
    """The pinned sha256, or the one the vendor's checksum file lists for ``file_name``."""
    if source.sha256 is not None:
        return source.sha256
    assert source.sha256_url is not None
    listing = fetch(source.sha256_url, work).read_text()
    for line in listing.splitlines():
        parts = line.replace("*", " ").split()
        if len(parts) >= 2 and parts[-1].endswith(file_name) and len(parts[0]) == 64:
            return parts[0].lower()
        if len(parts) == 1 and len(parts[0]) == 64:
            return parts[0].lower()
    raise ChecksumMismatch(
        f"checksum file {source.sha256_url}",
        f"lists no sha256 for {file_name}",
        "pin the sha256 in the manifest instead",
    )


def decompress(path: Path, compression: Compression, work: Path) -> Path:
    if compression == "none":
        return path
    target = work / (path.stem if path.suffix in (".xz", ".gz") else f"{path.name}.raw")
    try:
        with (
            lzma.open(path, "rb") if compression == "xz" else gzip.open(path, "rb") as src,
            target.open("wb") as out,
        ):
            shutil.copyfileobj(src, out, CHUNK)
    except (OSError, lzma.LZMAError, EOFError) as exc:
        raise ImageConversionFailed(
            f"image file {path}", f"cannot decompress ({compression}): {exc}", "download the image again"
        ) from exc
    return target


def convert_to_qcow2(path: Path, source_format: str, work: Path) -> Path:
    """``qemu-img convert`` into a compact qcow2 (also for qcow2 input: it drops unused clusters)."""
    target = work / "golden.qcow2"
    result = subprocess.run(
        ["qemu-img", "convert", "-f", source_format, "-O", "qcow2", str(path), str(target)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ImageConversionFailed(
            f"image file {path}",
            f"qemu-img convert from {source_format} failed: {result.stderr.strip()}",
            f"check that the file really is {source_format}",
        )
    return target


def import_golden(
    conn: libvirt.virConnect,
    pool_name: str,
    image_name: str,
    local_file: Path,
    *,
    sha256: str,
    source_format: str = "qcow2",
    compression: Compression = "none",
) -> GoldenImage:
    """Verify ``local_file`` against ``sha256``, convert it to qcow2 and upload it as a golden volume."""
    label = f"image {image_name}"
    pool = get_pool(conn, pool_name)
    volume = golden_volume_name(image_name, sha256)
    with libvirt_errors(f"volume {pool_name}/{volume}", "look up the golden volume"):
        existing = lookup_volume(pool, volume)
        existing_path = existing.path() if existing is not None else None
    if existing_path is not None:
        verify_sha256(local_file, sha256, label)
        return GoldenImage(volume, existing_path, sha256, "unchanged")
    verify_sha256(local_file, sha256, label)
    with tempfile.TemporaryDirectory(prefix="hallcloud-golden-") as tmp:
        work = Path(tmp)
        plain = decompress(local_file, compression, work)
        qcow2 = convert_to_qcow2(plain, source_format, work)
        path = upload_volume(pool, volume, qcow2, fmt="qcow2")
    return GoldenImage(volume, path, sha256, "created")


def import_catalog_image(
    conn: libvirt.virConnect,
    pool_name: str,
    manifest: ImageManifest,
    *,
    local_file: Path | None = None,
    sha256: str | None = None,
) -> GoldenImage:
    """Import the golden image of a catalog entry.

    ``download`` entries fetch the URL (or use ``local_file``, an already downloaded copy) and check it
    against the catalog's sha256. ``vendor-iso`` entries need ``local_file`` (the disk installed from the
    ISO) and its ``sha256``. ``test-image`` entries take the builder's disk and recorded digest.
    """
    label = f"image {manifest.name}"
    source = manifest.source
    if isinstance(source, LocalBuildSource):
        if local_file is None or sha256 is None:
            raise InvalidSpec(
                label,
                "a test image needs the built disk and its sha256",
                f"run `hall images build-test --arch {manifest.arch}` and pass its disk",
            )
        return import_golden(conn, pool_name, manifest.name, local_file, sha256=sha256)
    if isinstance(source, VendorIsoSource):
        if local_file is None or sha256 is None:
            raise InvalidSpec(
                label,
                "has no public disk image (built from the vendor ISO)",
                "install the OS from the vendor ISO onto a disk, then pass it with --file and --sha256",
            )
        return import_golden(conn, pool_name, manifest.name, local_file, sha256=sha256)
    with tempfile.TemporaryDirectory(prefix="hallcloud-fetch-") as tmp:
        work = Path(tmp)
        file_name = source.url.rsplit("/", 1)[-1]
        expected = sha256 or expected_sha256(source, work, file_name)
        downloaded = local_file if local_file is not None else fetch(source.url, work)
        return import_golden(
            conn,
            pool_name,
            manifest.name,
            downloaded,
            sha256=expected,
            source_format=source.format,
            compression=source.compression,
        )
