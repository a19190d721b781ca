"""LoongArch UEFI firmware, downloaded from Debian sid's ``qemu-efi-loongarch64`` (never installed).

x86_64 (``ovmf``) and aarch64 (``qemu-efi-aarch64``) firmware come from Debian packages installed on
the host; LoongArch's is not in Debian 12, so :func:`loongarch_firmware` unpacks the .deb into
``<cache>/firmware/loongarch64/<version>/``. :func:`install_loongarch_descriptor` makes it visible to
libvirt's ``firmware='efi'`` auto-selection: it copies the two files to a world-readable directory
(QEMU under libvirt runs as ``libvirt-qemu``, which cannot enter root's home) and writes a QEMU
firmware descriptor (QEMU's ``docs/interop/firmware.json``) into ``/etc/qemu/firmware``, one of the
directories QEMU and libvirt search (``/usr/share/qemu/firmware``, ``/etc/qemu/firmware``,
``$XDG_CONFIG_HOME/qemu/firmware``).
"""

from __future__ import annotations

import filecmp
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from .apt import DebPackage, PrivateApt
from .arches import profile_for
from .build import Progress, default_cache_dir

__all__ = [
    "CODE_NAME",
    "DESCRIPTOR_DIR",
    "DESCRIPTOR_NAME",
    "FIRMWARE_PACKAGE",
    "INSTALL_DIR",
    "PACKAGE_DIR",
    "VARS_NAME",
    "firmware_descriptor",
    "install_loongarch_descriptor",
    "loongarch_firmware",
]


FIRMWARE_PACKAGE = "qemu-efi-loongarch64"
CODE_NAME = "QEMU_EFI.fd"
VARS_NAME = "QEMU_VARS.fd"
PACKAGE_DIR = "usr/share/qemu-efi-loongarch64"
DESCRIPTOR_DIR = Path("/etc/qemu/firmware")
DESCRIPTOR_NAME = "60-hallcloud-edk2-loongarch64.json"
INSTALL_DIR = Path("/usr/local/share/hallcloud/firmware/loongarch64")


def loongarch_firmware(cache_dir: Path | None = None, progress: Progress | None = None) -> tuple[Path, Path]:
    """(code, vars template) of the LoongArch UEFI firmware, downloaded once into the cache."""
    say = progress or (lambda _msg: None)
    cache = cache_dir or default_cache_dir()
    profile = profile_for("loongarch64")
    apt = PrivateApt(
        cache / "apt" / f"{profile.suite}-{profile.debian_arch}", profile.suite, profile.debian_arch
    )
    apt.ensure_lists()
    base = cache / "firmware" / "loongarch64"
    current = base / "current"
    # no apt call while the package lists are unchanged since the last download
    if (
        current.is_symlink()
        and (base / "lists-stamp").exists()
        and ((base / "lists-stamp").read_text() == str(apt.lists_stamp()))
    ):
        code, nvram = current / CODE_NAME, current / VARS_NAME
        if code.is_file() and nvram.is_file():
            return code.resolve(), nvram.resolve()
    package = apt.show(FIRMWARE_PACKAGE)[FIRMWARE_PACKAGE]
    target = base / package.version.replace(":", "%3a")
    code, nvram = target / CODE_NAME, target / VARS_NAME
    if not (code.is_file() and nvram.is_file()):
        _unpack_firmware(apt, package, target, cache, say)
    tmp_link = base / f".current-{os.getpid()}"
    tmp_link.unlink(missing_ok=True)
    tmp_link.symlink_to(target.name)
    os.replace(tmp_link, current)
    (base / "lists-stamp").write_text(str(apt.lists_stamp()))
    return code, nvram


def _unpack_firmware(apt: PrivateApt, package: DebPackage, target: Path, cache: Path, say: Progress) -> None:
    say(
        f"loongarch64 firmware: downloading {FIRMWARE_PACKAGE} {package.version} "
        f"({package.size / 1e6:.1f} MB)"
    )
    deb = apt.download(package, cache / "debs" / apt.debian_arch)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".unpack-") as tmp:
        subprocess.run(["dpkg-deb", "-x", str(deb), tmp], check=True)
        staged = Path(tmp) / "staged"
        staged.mkdir()
        for name in (CODE_NAME, VARS_NAME):
            shutil.copyfile(Path(tmp) / PACKAGE_DIR / name, staged / name)
        if target.exists():
            shutil.rmtree(target)
        os.rename(staged, target)


def firmware_descriptor(code: Path, nvram_template: Path) -> dict[str, object]:
    """A QEMU firmware descriptor for LoongArch UEFI on pflash (the shape Debian's package ships)."""
    return {
        "description": "UEFI firmware for loongarch64 (HallCloud, from Debian qemu-efi-loongarch64)",
        "interface-types": ["uefi"],
        "mapping": {
            "device": "flash",
            "executable": {"filename": str(code), "format": "raw"},
            "nvram-template": {"filename": str(nvram_template), "format": "raw"},
        },
        "targets": [{"architecture": "loongarch64", "machines": ["virt*"]}],
        "features": [],
        "tags": [],
    }


def install_loongarch_descriptor(
    cache_dir: Path | None = None,
    descriptor_dir: Path = DESCRIPTOR_DIR,
    install_dir: Path = INSTALL_DIR,
    progress: Progress | None = None,
) -> Path:
    """Copy the firmware to ``install_dir`` and write its descriptor; returns the descriptor path.

    Idempotent: files are rewritten only when their content changed.
    """
    code, nvram = loongarch_firmware(cache_dir, progress)
    install_dir.mkdir(parents=True, exist_ok=True)
    installed: list[Path] = []
    for source in (code, nvram):
        dest = install_dir / source.name
        if not dest.exists() or not filecmp.cmp(source, dest, shallow=False):
            tmp = dest.with_name(f".{dest.name}.tmp")
            shutil.copyfile(source, tmp)
            tmp.chmod(0o644)
            os.replace(tmp, dest)
        installed.append(dest)
    text = json.dumps(firmware_descriptor(installed[0], installed[1]), indent=4) + "\n"
    descriptor_dir.mkdir(parents=True, exist_ok=True)
    descriptor = descriptor_dir / DESCRIPTOR_NAME
    if not descriptor.exists() or descriptor.read_text() != text:
        tmp = descriptor.with_name(f".{descriptor.name}.tmp")
        tmp.write_text(text)
        tmp.chmod(0o644)
        os.replace(tmp, descriptor)
    return descriptor
