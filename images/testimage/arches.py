"""Per-architecture facts the test-image builder needs, as data.

One :class:`ArchProfile` per guest architecture: which Debian archive and packages the image is built
from, which serial console the kernel writes to, and how plain QEMU boots it directly. Code elsewhere
looks these up instead of branching on the architecture name.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEBIAN_MIRROR", "KNOWN_ARCHES", "PROFILES", "ArchProfile", "profile_for"]


DEBIAN_MIRROR = "http://deb.debian.org/debian"


@dataclass(frozen=True)
class ArchProfile:
    """How to build and directly boot the tiny test image of one architecture."""

    arch: str
    """QEMU / libvirt architecture name (``x86_64``, ``aarch64``, ``loongarch64``)."""
    debian_arch: str
    """Debian's name for it (``amd64``, ``arm64``, ``loong64``)."""
    suite: str
    """Debian suite the kernel and busybox come from."""
    kernel_package: str
    """The kernel metapackage; its dependencies lead to the versioned kernel packages."""
    console: str
    """The serial console device the guest kernel writes to."""
    qemu_binary: str
    machine: str
    cpu: str
    needs_firmware: bool
    """True when QEMU needs UEFI firmware even for ``-kernel`` boot."""
    extra_cmdline: tuple[str, ...] = ()


PROFILES: dict[str, ArchProfile] = {
    profile.arch: profile
    for profile in (
        ArchProfile(
            arch="x86_64",
            debian_arch="amd64",
            suite="bookworm",
            kernel_package="linux-image-amd64",
            console="ttyS0",
            qemu_binary="qemu-system-x86_64",
            machine="q35",
            cpu="max",
            needs_firmware=False,
        ),
        ArchProfile(
            arch="aarch64",
            debian_arch="arm64",
            suite="bookworm",
            kernel_package="linux-image-arm64",
            console="ttyAMA0",
            qemu_binary="qemu-system-aarch64",
            machine="virt",
            cpu="max",
            needs_firmware=False,
        ),
        ArchProfile(
            arch="loongarch64",
            debian_arch="loong64",
            suite="sid",
            kernel_package="linux-image-loong64",
            console="ttyS0",
            qemu_binary="qemu-system-loongarch64",
            machine="virt",
            cpu="la464",
            needs_firmware=True,
        ),
    )
}

KNOWN_ARCHES: tuple[str, ...] = tuple(PROFILES)


def profile_for(arch: str) -> ArchProfile:
    """The profile of ``arch``; a ValueError naming the known arches otherwise."""
    try:
        return PROFILES[arch]
    except KeyError:
        raise ValueError(
            f"test image: unknown architecture {arch!r}; known: {', '.join(KNOWN_ARCHES)}"
        ) from None
