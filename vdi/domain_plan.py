"""Pure planning: what a domain of a catalog image should look like, from the machine profile data.

Nothing here talks to libvirt. Per-architecture behaviour (machine, CPU, platform features, firmware,
buses, devices) comes from :class:`images.profiles.MachineProfile`; this module only maps it onto the
models in :mod:`vdi.models`, so there is no ``if arch == ...`` anywhere in vdi.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from images.catalog import CatalogError, ImageManifest, get_image
from images.profiles import (
    FirmwareKind,
    FirmwareMissingError,
    MachineProfile,
    ProfileError,
    ResolvedFirmware,
    get_profile,
)
from vdi.exceptions import FirmwareMissing, InvalidSpec, UnknownArchitecture
from vdi.models import (
    Controller,
    Cpu,
    Disk,
    Domain,
    DomainOS,
    Features,
    Graphics,
    InputDevice,
    Interface,
    Loader,
    Nvram,
    Serial,
    Video,
    random_console_password,
)

__all__ = [
    "DiskSource",
    "DomainRequest",
    "KernelBoot",
    "image_for",
    "plan_domain",
    "profile_for",
    "resolve_firmware",
]

_DISK_PREFIX = {"virtio": "vd", "sata": "sd", "scsi": "sd"}


@dataclass
class KernelBoot:
    """Direct kernel boot: paths as the hypervisor sees them."""

    kernel: str
    initrd: str
    cmdline: str


@dataclass
class DiskSource:
    """A disk for the domain: a pool volume, or (for validation) a plain path."""

    pool: str | None = None
    volume: str | None = None
    path: str | None = None
    format: str = "qcow2"


@dataclass
class DomainRequest:
    """Everything that varies between domains of one image; the profile supplies the rest."""

    name: str
    disks: list[DiskSource] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    network_filters: dict[str, str] = field(default_factory=dict)
    """Network name -> the network filter (:mod:`vdi.nwfilter`) its NIC references."""
    kernel_boot: KernelBoot | None = None
    firmware: ResolvedFirmware | None = None
    """Firmware files to use instead of the profile's (e.g. a provider's files uploaded to a pool)."""
    memory_mib: int | None = None
    vcpus: int | None = None
    vnc: bool = True
    console_password: str | None = field(default=None, repr=False)
    """The VNC password the domain is defined with; None: a fresh random one nobody knows. Either way
    password authentication is on, which QEMU needs at start to accept the one-time passwords that
    :func:`vdi.console_tickets.issue_ticket` sets. Fixed values are for tests (deterministic XML)."""
    description: str | None = None


def profile_for(arch: str) -> MachineProfile:
    try:
        return get_profile(arch)
    except ProfileError as exc:
        raise UnknownArchitecture(exc.obj, exc.problem, exc.fix) from exc


def image_for(name: str) -> ImageManifest:
    try:
        return get_image(name)
    except CatalogError as exc:
        raise InvalidSpec(exc.obj, exc.problem, exc.fix) from exc


def resolve_firmware(
    profile: MachineProfile, kind: FirmwareKind, *, check_files: bool = True
) -> ResolvedFirmware:
    """The profile's firmware of ``kind``, as vdi errors (:class:`FirmwareMissing`) when unavailable."""
    try:
        return profile.resolve_firmware(kind, check_files=check_files)
    except FirmwareMissingError as exc:
        raise FirmwareMissing(exc.obj, exc.problem, exc.fix) from exc
    except ProfileError as exc:
        raise InvalidSpec(exc.obj, exc.problem, exc.fix) from exc


def plan_domain(manifest: ImageManifest, request: DomainRequest) -> Domain:
    """The domain definition for ``request`` booting ``manifest`` on its architecture's profile."""
    profile = profile_for(manifest.arch)
    firmware = request.firmware or resolve_firmware(profile, manifest.firmware)
    loader = nvram = None
    if firmware.loader is not None:
        loader = Loader(
            path=firmware.loader,
            type=firmware.loader_type or "pflash",
            readonly=True,
            secure=firmware.secure_boot,
        )
        if firmware.nvram_template is not None:
            nvram = Nvram(template=firmware.nvram_template)
    kb = request.kernel_boot
    os_ = DomainOS(
        arch=profile.arch,
        machine=manifest.machine,
        loader=loader,
        nvram=nvram,
        kernel=kb.kernel if kb else None,
        initrd=kb.initrd if kb else None,
        cmdline=kb.cmdline if kb else None,
        boot_devices=[] if kb else ["hd"],
    )
    prefix = _DISK_PREFIX[manifest.disk_bus]
    disks = [
        Disk(
            target_dev=f"{prefix}{chr(ord('a') + i)}",
            bus=manifest.disk_bus,
            type="volume" if src.pool else "file",
            source_pool=src.pool,
            source_volume=src.volume,
            source_file=src.path,
            driver_type=src.format,
        )
        for i, src in enumerate(request.disks)
    ]
    gic = next((f.removeprefix("gic-v") for f in profile.features if f.startswith("gic-v")), None)
    controllers = [Controller("usb", profile.usb_controller)] if profile.usb_controller else []
    return Domain(
        name=request.name,
        description=request.description or f"{manifest.title} [catalog image {manifest.name}]",
        memory_mib=request.memory_mib or manifest.memory_mib,
        vcpus=request.vcpus or manifest.vcpus,
        os=os_,
        cpu=Cpu(mode=profile.cpu.mode, model=manifest.cpu if profile.cpu.mode == "custom" else None),
        features=Features(
            acpi="acpi" in profile.features,
            apic="apic" in profile.features,
            pae="pae" in profile.features,
            gic_version=gic,
        ),
        disks=disks,
        controllers=controllers,
        interfaces=[
            Interface(
                type="network",
                source=net,
                model=profile.nic_model,
                filter=request.network_filters.get(net),
            )
            for net in request.networks
        ],
        serials=[Serial(type="pty")],
        inputs=[InputDevice(i.type, i.bus) for i in profile.inputs],
        graphics=[Graphics(type="vnc", passwd=request.console_password or random_console_password("vnc"))]
        if request.vnc
        else [],
        video=Video(manifest.video) if manifest.video != "none" else None,
    )
