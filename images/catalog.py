"""The image catalog: one YAML manifest per golden image, validated against a typed schema.

``images/catalog/<name>.yaml`` describes one image: its OS, architecture, firmware, machine, CPU, disk
bus, video, the ``ID`` its ``/etc/os-release`` reports, and where its disk comes from:

- ``download``: a public URL plus its sha256 (literal, or the URL of the checksum file the vendor
  publishes next to the image), optionally compressed;
- ``vendor-iso``: no public disk image exists; the golden image is built from the vendor's ISO;
- ``test-image``: HallCloud's tiny test image, built locally by ``hall images build-test``.

Each manifest is checked against the machine profile of its architecture (:mod:`images.profiles`), so
the catalog cannot name a machine or firmware the profile does not know.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from images.profiles import FirmwareKind, ImageDataError, MachineProfile, ProfileError, get_profile

__all__ = [
    "CATALOG_DIR",
    "CatalogError",
    "DownloadSource",
    "ImageManifest",
    "ImageSource",
    "LocalBuildSource",
    "VendorIsoSource",
    "catalog_table",
    "get_image",
    "load_catalog",
    "load_manifest",
    "testimage_name",
]


CATALOG_DIR = Path(__file__).resolve().parent / "catalog"

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*[a-z0-9]$")


class CatalogError(ImageDataError):
    """A manifest is invalid, inconsistent with its machine profile, or not in the catalog."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DownloadSource(_Strict):
    kind: Literal["download"]
    url: str
    sha256: str | None = None
    sha256_url: str | None = None
    """URL of the vendor's checksum file (``<hash>  <file>`` lines) when the hash is not pinned here."""
    compression: Literal["none", "xz", "gz"] = "none"
    format: Literal["qcow2", "raw"] = "qcow2"
    """Format of the (decompressed) download; the pipeline converts it to qcow2."""

    @model_validator(mode="after")
    def _one_checksum(self) -> DownloadSource:
        if (self.sha256 is None) == (self.sha256_url is None):
            raise ValueError("download: give exactly one of 'sha256' and 'sha256_url'")
        if self.sha256 is not None and not _SHA256.match(self.sha256):
            raise ValueError(f"download: sha256 {self.sha256!r} is not 64 lowercase hex digits")
        return self


class VendorIsoSource(_Strict):
    kind: Literal["vendor-iso"]
    note: str
    """Where the ISO comes from and why no public disk image exists."""


class LocalBuildSource(_Strict):
    kind: Literal["test-image"]


ImageSource = Annotated[DownloadSource | VendorIsoSource | LocalBuildSource, Field(discriminator="kind")]


class ImageManifest(_Strict):
    name: str
    title: str
    os: str
    version: str
    arch: str
    firmware: FirmwareKind
    machine: str
    cpu: str
    disk_bus: Literal["virtio", "sata", "scsi"]
    video: Literal["virtio", "vga", "qxl", "bochs", "ramfb", "none"]
    os_release_id: str
    memory_mib: int = Field(default=2048, ge=64)
    vcpus: int = Field(default=2, ge=1)
    disk_gib: int = Field(default=20, ge=1)
    source: ImageSource

    @model_validator(mode="after")
    def _name_shape(self) -> ImageManifest:
        if not _NAME.match(self.name):
            raise ValueError(f"name {self.name!r}: use lowercase letters, digits, '.', '_' and '-'")
        return self

    @property
    def source_label(self) -> str:
        if isinstance(self.source, DownloadSource):
            return "download"
        if isinstance(self.source, VendorIsoSource):
            return "built from the vendor ISO"
        return "hall images build-test"

    def profile(self) -> MachineProfile:
        return get_profile(self.arch)

    def check_against_profile(self) -> None:
        """Refuse a manifest whose machine, CPU or firmware its architecture's profile cannot provide."""
        try:
            profile = self.profile()
            profile.firmware_spec(self.firmware)
        except ProfileError as exc:
            raise CatalogError(f"image {self.name}", str(exc), None) from exc
        if self.machine != profile.machine:
            raise CatalogError(
                f"image {self.name}",
                f"machine {self.machine!r} differs from the {self.arch} profile's {profile.machine!r}",
                f"use {profile.machine!r} or add a profile for it",
            )
        if profile.cpu.model and self.cpu != profile.cpu.model:
            raise CatalogError(
                f"image {self.name}",
                f"cpu {self.cpu!r} differs from the {self.arch} profile's {profile.cpu.model!r}",
                f"use {profile.cpu.model!r}",
            )


def load_manifest(path: Path) -> ImageManifest:
    try:
        manifest = ImageManifest.model_validate(yaml.safe_load(path.read_text()))
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise CatalogError(f"image manifest {path.name}", f"invalid: {exc}", "correct the YAML") from exc
    if path.stem != manifest.name:
        raise CatalogError(
            f"image manifest {path.name}",
            f"file name must match its name {manifest.name!r}",
            f"rename it to {manifest.name}.yaml",
        )
    manifest.check_against_profile()
    return manifest


@cache
def load_catalog(directory: Path = CATALOG_DIR) -> tuple[ImageManifest, ...]:
    """Every manifest in ``directory``, sorted by name."""
    manifests = tuple(load_manifest(p) for p in sorted(directory.glob("*.yaml")))
    if not manifests:
        raise CatalogError(f"image catalog {directory}", "is empty", "reinstall HallCloud")
    return manifests


def get_image(name: str) -> ImageManifest:
    """The manifest called ``name``; a :class:`CatalogError` listing the catalog otherwise."""
    for manifest in load_catalog():
        if manifest.name == name:
            return manifest
    raise CatalogError(
        f"image {name!r}",
        f"not in the catalog; known: {', '.join(m.name for m in load_catalog())}",
        "run `hall images list` and use one of those names",
    )


def testimage_name(arch: str) -> str:
    return f"hallcloud-test-{arch}"


def catalog_table(manifests: tuple[ImageManifest, ...] | None = None) -> str:
    """The catalog as a plain-text table (what ``hall images list`` prints)."""
    rows = [("NAME", "ARCH", "FIRMWARE", "MACHINE", "CPU", "DISK", "VIDEO", "OS-ID", "SOURCE")]
    for m in manifests if manifests is not None else load_catalog():
        rows.append(
            (
                m.name,
                m.arch,
                m.firmware,
                m.machine,
                m.cpu,
                m.disk_bus,
                m.video,
                m.os_release_id,
                m.source_label,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)
