"""Tiny test guests through vdi: stage the test image, define, boot to the marker, tear down.

The test-image builder (``images.testimage``) produces local files: kernel, initramfs, a qcow2 data
disk and, for loongarch64, UEFI firmware. The hypervisor may be remote and runs QEMU as an
unprivileged user, so every local file is uploaded into a pool (:func:`stage_test_image`); the data
disk becomes a golden volume and each guest boots a linked clone of it.

:func:`boot_test` is ``hall images boot-test``: one guest with two NICs on two fresh isolated
networks, everything created under one unique prefix and removed again, also on failure or Ctrl-C.
"""

from __future__ import annotations

import functools
import importlib
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import libvirt

from images.catalog import testimage_name
from images.profiles import ResolvedFirmware
from vdi.conn import connection, libvirt_errors
from vdi.domain import define_domain, get_domain, resume_domain, start_domain, undefine_domain
from vdi.domain_plan import (
    DiskSource,
    DomainRequest,
    KernelBoot,
    image_for,
    plan_domain,
    profile_for,
    resolve_firmware,
)
from vdi.exceptions import InvalidSpec, VdiError
from vdi.golden import import_golden, sha256_file
from vdi.models import Network, Pool
from vdi.network import delete_network, ensure_network
from vdi.render import parse_domain
from vdi.serial_console import SerialConsole
from vdi.storage import (
    default_pool_path,
    delete_pool,
    ensure_pool,
    get_pool,
    linked_clone,
    lookup_volume,
    upload_volume,
)

__all__ = [
    "NIC_LINE",
    "READY_TIMEOUT",
    "BootResult",
    "Cleanup",
    "GuestImageFiles",
    "Progress",
    "StagedImage",
    "boot_test",
    "boot_to_marker",
    "build_test_image",
    "check_bootable",
    "define_test_guest",
    "stage_test_image",
]


READY_TIMEOUT = 300.0
NIC_LINE = re.compile(r"^NIC (\S+) ([0-9a-f:]{17}) (\S+)", re.MULTILINE)
Progress = Callable[[str], None]


class GuestImageFiles(Protocol):
    """What vdi needs from ``images.testimage.build.TestImage``."""

    arch: str
    kernel: Path
    initrd: Path
    disk: Path
    cmdline: str
    sha256: dict[str, str]


def build_test_image(arch: str) -> GuestImageFiles:
    """The builder's image for ``arch`` (cached after the first build)."""
    profile_for(arch)  # an unknown arch is refused before anything is built
    try:
        module = importlib.import_module("images.testimage.build")
    except ModuleNotFoundError as exc:
        raise InvalidSpec(
            f"test image {arch}",
            f"the builder is not installed ({exc})",
            "install HallCloud with images/testimage",
        ) from exc
    image: GuestImageFiles = module.build_test_image(arch)
    return image


@dataclass
class StagedImage:
    """A test image as the hypervisor sees it: volume paths and the golden disk volume."""

    arch: str
    pool: str
    kernel: str
    initrd: str
    cmdline: str
    golden_volume: str
    firmware: ResolvedFirmware | None


def _stage_file(pool: libvirt.virStoragePool, name: str, local: Path, digest: str | None = None) -> str:
    """Upload ``local`` as volume ``name-<sha12>`` unless present; returns the volume path."""
    digest = digest or sha256_file(local)
    volume = f"{name}-{digest[:12]}"
    with libvirt_errors(f"volume {pool.name()}/{volume}", "look up the volume"):
        existing = lookup_volume(pool, volume)
        if existing is not None:
            return str(existing.path())
    # boot files are public and QEMU does not relabel a pflash loader: make them world-readable
    return upload_volume(pool, volume, local, fmt="raw", mode="0644")


def stage_test_image(conn: libvirt.virConnect, pool_name: str, image: GuestImageFiles) -> StagedImage:
    """Upload kernel, initramfs, data disk (as golden volume) and provider firmware into ``pool_name``."""
    manifest = image_for(testimage_name(image.arch))
    profile = profile_for(manifest.arch)
    firmware: ResolvedFirmware | None = None
    if not profile.firmware_spec(manifest.firmware).is_bios:
        firmware = resolve_firmware(profile, manifest.firmware)
    pool = get_pool(conn, pool_name)
    prefix = f"hallcloud-test-{image.arch}"
    kernel = _stage_file(pool, f"{prefix}-vmlinuz", image.kernel, image.sha256.get("kernel"))
    initrd = _stage_file(pool, f"{prefix}-initrd", image.initrd, image.sha256.get("initrd"))
    golden = import_golden(conn, pool_name, manifest.name, image.disk, sha256=image.sha256["disk"])
    if firmware is not None and firmware.local:
        assert firmware.loader is not None and firmware.nvram_template is not None
        firmware = ResolvedFirmware(
            loader=_stage_file(pool, f"{image.arch}-uefi-code", Path(firmware.loader)),
            loader_type=firmware.loader_type,
            secure_boot=firmware.secure_boot,
            nvram_template=_stage_file(pool, f"{image.arch}-uefi-vars", Path(firmware.nvram_template)),
            local=False,
        )
    return StagedImage(
        arch=image.arch,
        pool=pool_name,
        kernel=kernel,
        initrd=initrd,
        cmdline=image.cmdline,
        golden_volume=golden.volume,
        firmware=firmware,
    )


def define_test_guest(
    conn: libvirt.virConnect,
    name: str,
    staged: StagedImage,
    networks: list[str],
    *,
    memory_mib: int | None = None,
) -> Literal["created", "unchanged"]:
    """A domain booting the staged kernel with ``networks`` on a linked clone of the staged golden disk.

    The domain is defined first (a conflicting one is refused before the clone exists); if the clone
    then fails, the domain this call defined is undefined again.
    """
    manifest = image_for(testimage_name(staged.arch))
    pool = get_pool(conn, staged.pool)
    disk_volume = f"{name}.qcow2"
    domain = plan_domain(
        manifest,
        DomainRequest(
            name=name,
            disks=[DiskSource(pool=staged.pool, volume=disk_volume)],
            networks=networks,
            kernel_boot=KernelBoot(staged.kernel, staged.initrd, staged.cmdline),
            firmware=staged.firmware,
            memory_mib=memory_mib,
            description=f"HallCloud test guest ({staged.arch})",
        ),
    )
    outcome = define_domain(conn, domain)
    try:
        linked_clone(pool, staged.golden_volume, disk_volume)
    except BaseException:
        if outcome == "created":
            undefine_domain(conn, name)
        raise
    return outcome


@dataclass
class BootResult:
    arch: str
    domain: str
    seconds: float
    nics: list[tuple[str, str]]
    """(guest interface, MAC) of each NIC the guest brought up."""
    expected_macs: list[str]
    transcript: str

    @property
    def sees_all_nics(self) -> bool:
        return sorted(m for _, m in self.nics) == sorted(self.expected_macs)


def boot_to_marker(
    conn: libvirt.virConnect, name: str, arch: str, *, timeout: float = READY_TIMEOUT
) -> tuple[BootResult, SerialConsole]:
    """Start ``name`` paused, attach the console, resume, and wait for ``GUEST-READY <arch>``.

    Returns the result and the still-open console (the caller closes it).
    """
    start_domain(conn, name, paused=True)
    console = SerialConsole(conn, name).open()
    try:
        started = time.monotonic()
        resume_domain(conn, name)
        console.wait_for(f"GUEST-READY {arch}", timeout)
        seconds = time.monotonic() - started
    except BaseException:
        console.close()
        raise
    macs = [i.mac for i in parse_domain(get_domain(conn, name).XMLDesc(0)).interfaces if i.mac]
    nics = [(m.group(1), m.group(2)) for m in NIC_LINE.finditer(console.transcript.replace("\r", ""))]
    return BootResult(arch, name, seconds, nics, macs, console.transcript), console


def check_bootable(arch: str) -> None:
    """Refuse an unknown arch or missing firmware before anything is built or created."""
    profile_for(arch)
    manifest = image_for(testimage_name(arch))
    profile = profile_for(arch)
    if not profile.firmware_spec(manifest.firmware).is_bios:
        resolve_firmware(profile, manifest.firmware)


class Cleanup:
    """Undo steps run in reverse order; every step runs even if an earlier one fails."""

    def __init__(self) -> None:
        self._steps: list[tuple[str, Callable[[], Any]]] = []

    def push(self, what: str, step: Callable[[], Any]) -> None:
        self._steps.append((what, step))

    def run(self) -> list[str]:
        errors = []
        while self._steps:
            what, step = self._steps.pop()
            try:
                step()
            except (VdiError, libvirt.libvirtError) as exc:
                errors.append(f"{what}: {exc}")
        return errors


def boot_test(
    arch: str,
    uri: str,
    *,
    timeout: float = READY_TIMEOUT,
    progress: Progress | None = None,
    prefix: str | None = None,
) -> BootResult:
    """Boot the test image of ``arch`` with two NICs on two isolated networks; remove it all after."""
    say = progress or (lambda _m: None)
    check_bootable(arch)
    image = build_test_image(arch)
    run = prefix or f"hc-bt-{secrets.token_hex(3)}"
    networks = [f"{run}-a", f"{run}-b"]
    cleanup = Cleanup()
    with connection(uri) as conn:
        try:
            # undo steps are registered only for objects this run created, never for pre-existing ones
            for net in networks:
                if ensure_network(conn, Network(name=net, forward="isolated")) == "created":
                    cleanup.push(f"network {net}", functools.partial(delete_network, conn, net))
            pool_spec = Pool(name=run, type="dir", target_path=default_pool_path(run))
            if ensure_pool(conn, pool_spec) == "created":
                cleanup.push(f"pool {run}", lambda: delete_pool(conn, run, delete_volumes=True))
            say(f"staging the {arch} test image into pool {run}")
            staged = stage_test_image(conn, run, image)
            if define_test_guest(conn, run, staged, networks) == "created":
                cleanup.push(f"domain {run}", lambda: undefine_domain(conn, run))
            say(f"booting {run}")
            result, console = boot_to_marker(conn, run, arch, timeout=timeout)
            console.close()
            if not result.sees_all_nics:
                raise VdiError(
                    f"domain {run}",
                    f"the guest brought up NICs {result.nics}, expected MACs {result.expected_macs}",
                    "check the virtio-net driver in the test image",
                )
            return result
        finally:
            errors = cleanup.run()
            if errors:
                say("cleanup problems: " + "; ".join(errors))
