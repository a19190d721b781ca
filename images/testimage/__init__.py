"""Tiny test images for x86_64, aarch64 and loongarch64, built from Debian packages.

``build_test_image(arch)`` returns a :class:`TestImage` (kernel, initramfs, qcow2 data disk, kernel
command line, serial console); ``loongarch_firmware()`` returns the LoongArch UEFI firmware. The guest's
serial-console protocol is described in ``README.md`` next to this file.
"""

from .arches import KNOWN_ARCHES, PROFILES, ArchProfile, profile_for
from .build import TestImage, build_test_image, default_cache_dir

__all__ = [
    "KNOWN_ARCHES",
    "PROFILES",
    "ArchProfile",
    "TestImage",
    "build_test_image",
    "default_cache_dir",
    "profile_for",
]
