"""Tiny test images for x86_64, aarch64 and loongarch64, built from Debian packages.

``build_test_image(arch)`` returns a :class:`TestImage` (kernel, initramfs, qcow2 data disk with an ext4
filesystem, kernel command line, serial console, sha256 of each file), cached under
``~/.cache/hallcloud/test-images/<arch>/``. ``firmware.loongarch_firmware()`` returns the LoongArch UEFI
firmware; ``qemu`` boots an image with plain QEMU and drives its console.

Console protocol (lines on the serial console; ``README.md`` has the full table). At boot the guest
prints ``NIC <name> <mac> <ipv4-or-none>`` for every virtio NIC, ``DISK-MARKER <text-or-none>`` from
``/data/marker`` on ``/dev/vda`` and then ``GUEST-READY <arch>``. It then reads one command per line:

- ``hc write TEXT`` -> ``MARKER-WRITTEN TEXT``
- ``hc read`` -> ``MARKER TEXT`` or ``MARKER none``
- ``hc damage FILE`` -> ``DAMAGED FILE``
- ``hc ls`` -> ``FILE name size`` / ``DIR name`` per entry, then ``LS-END n``
- ``hc ping ADDR`` -> ``PING ADDR ok`` or ``PING ADDR fail``
- ``hc sync`` -> ``SYNCED``
- ``hc ip`` -> the ``NIC`` lines, then ``IP-END``
- ``hc poweroff`` -> ``POWEROFF``, then the guest powers off
- any other ``hc ...`` -> ``HC-ERROR unknown command: <line>``
- any other line runs in ``sh -c`` -> its output, then ``SH-EXIT <status>``

Input is not echoed; readers strip ``\r`` and terminal escapes left by firmware.
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
