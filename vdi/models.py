"""Typed models of the libvirt objects vdi manages: networks, pools, volumes, domains, snapshots.

Plain dataclasses, one per XML element, with no XML and no libvirt in them: :mod:`vdi.render` renders
and parses them, :mod:`vdi.domain_plan` fills them from the machine profiles, and the operation modules
apply them. ``None`` means "not specified": libvirt chooses (a MAC address, a bridge name, a VNC
port) and :func:`differences` does not compare it, which is what lets ``ensure_*`` accept an
object libvirt has completed with its own defaults.

Why one module of ~450 lines: it is the vocabulary every other vdi module shares, one small dataclass
per libvirt element, and :mod:`vdi.render` mirrors its sections; split up, every import would name
several modules for one domain definition.
"""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, Literal

__all__ = [
    "CONSOLE_PASSWORD_LENGTH",
    "BackingStore",
    "BackupDisk",
    "Controller",
    "Cpu",
    "DesktopRecord",
    "Disk",
    "DiskOrigin",
    "Domain",
    "DomainBackup",
    "DomainOS",
    "Features",
    "FilterAction",
    "FilterDirection",
    "FilterRule",
    "ForwardMode",
    "Graphics",
    "InputDevice",
    "Interface",
    "Loader",
    "Network",
    "NetworkFilter",
    "NetworkIP",
    "Nvram",
    "Pool",
    "PoolAuth",
    "PoolHost",
    "PoolSource",
    "PoolType",
    "Serial",
    "Snapshot",
    "SnapshotDisk",
    "Video",
    "Volume",
    "VolumeFormat",
    "differences",
    "machine_matches",
    "random_console_password",
]


# -- networks ---------------------------------------------------------------------------------------

ForwardMode = Literal["isolated", "nat", "bridge"]


@dataclass
class NetworkIP:
    address: str
    prefix: int
    dhcp_start: str | None = None
    dhcp_end: str | None = None


@dataclass
class Network:
    """A libvirt virtual network.

    ``isolated``: guests talk only to each other (no forward element); ``nat``: libvirt NATs to the
    host's uplink; ``bridge``: guests join the existing host bridge ``bridge``.
    """

    name: str
    forward: ForwardMode = "isolated"
    bridge: str | None = None
    ip: NetworkIP | None = None
    uuid: str | None = field(default=None, metadata={"compare": False})


# -- network filters --------------------------------------------------------------------------------

FilterAction = Literal["accept", "drop", "reject", "return"]
FilterDirection = Literal["in", "out", "inout"]


@dataclass
class FilterRule:
    """One ``<rule>`` over IPv4 frames (``<ip>``: evaluated by ebtables on the guest's own port).

    ``direction='out'`` is traffic the guest sends. ``dst_address``/``dst_prefix`` None match any
    destination. Lower ``priority`` is evaluated first (libvirt: -1000 .. 1000).
    """

    action: FilterAction
    direction: FilterDirection
    priority: int
    dst_address: str | None = None
    dst_prefix: int | None = None


@dataclass
class NetworkFilter:
    """A libvirt network filter (nwfilter), referenced from interfaces by name."""

    name: str
    chain: str = "root"
    rules: list[FilterRule] = field(default_factory=list)
    uuid: str | None = field(default=None, metadata={"compare": False})


# -- storage ----------------------------------------------------------------------------------------

PoolType = Literal["dir", "netfs", "rbd"]


@dataclass
class PoolHost:
    name: str
    port: int | None = None


@dataclass
class PoolAuth:
    """Ceph authentication: a libvirt secret (by UUID) holding the key of ``username``."""

    username: str
    secret_uuid: str
    type: Literal["ceph", "chap"] = "ceph"


@dataclass
class PoolSource:
    hosts: list[PoolHost] = field(default_factory=list)
    dir: str | None = None
    """netfs: the exported directory on the NFS server."""
    name: str | None = None
    """rbd: the Ceph pool name."""
    format: str | None = None
    """netfs: the file system type (``nfs``)."""
    auth: PoolAuth | None = None


@dataclass
class Pool:
    name: str
    type: PoolType = "dir"
    target_path: str | None = None
    """dir / netfs: where volumes live on the hypervisor host (netfs: the mount point)."""
    source: PoolSource | None = None
    uuid: str | None = field(default=None, metadata={"compare": False})


VolumeFormat = Literal["qcow2", "raw"]


@dataclass
class BackingStore:
    path: str
    format: VolumeFormat = "qcow2"


@dataclass
class Volume:
    name: str
    capacity_bytes: int
    format: VolumeFormat = "qcow2"
    allocation_bytes: int | None = field(default=None, metadata={"compare": False})
    backing: BackingStore | None = None
    path: str | None = field(default=None, metadata={"compare": False})
    """Read back from libvirt: the volume's path on the hypervisor."""
    mode: str | None = field(default=None, metadata={"compare": False})
    """File permissions (``"0644"``) for a new volume; libvirt's default (0600) when None."""


# -- domains ----------------------------------------------------------------------------------------


@dataclass
class Loader:
    path: str
    type: Literal["pflash", "rom"] = "pflash"
    readonly: bool = True
    secure: bool | None = None


@dataclass
class Nvram:
    template: str | None = None
    path: str | None = field(default=None, metadata={"compare": False})
    """Chosen by libvirt (``/var/lib/libvirt/qemu/nvram/<name>_VARS.fd``) unless given."""


@dataclass
class DomainOS:
    arch: str
    machine: str = field(metadata={"compare": "machine"})
    """An alias (``q35``) or a versioned type; libvirt stores the versioned one (``pc-q35-10.0``)."""
    type: str = "hvm"
    loader: Loader | None = None
    nvram: Nvram | None = None
    kernel: str | None = None
    initrd: str | None = None
    cmdline: str | None = None
    boot_devices: list[str] = field(default_factory=list, metadata={"compare": "subset"})


@dataclass
class Cpu:
    mode: str = "custom"
    model: str | None = None


@dataclass
class Features:
    acpi: bool = False
    apic: bool = False
    pae: bool = False
    gic_version: str | None = None


@dataclass
class Disk:
    """A disk backed by a file path (``type='file'``) or a pool volume (``type='volume'``)."""

    target_dev: str
    bus: str = "virtio"
    device: Literal["disk", "cdrom"] = "disk"
    type: Literal["file", "volume", "network"] = "file"
    source_file: str | None = None
    source_pool: str | None = None
    source_volume: str | None = None
    driver_type: str | None = "qcow2"
    readonly: bool = False


@dataclass
class Interface:
    type: Literal["network", "bridge"] = "network"
    source: str = "default"
    """Network name (``type='network'``) or host bridge name (``type='bridge'``)."""
    model: str | None = "virtio"
    mac: str | None = None
    filter: str | None = None
    """The network filter (``<filterref>``) libvirt applies to this NIC's traffic; see :mod:`vdi.nwfilter`."""


CONSOLE_PASSWORD_LENGTH = {"vnc": 8, "spice": 20}
"""RFB's DES challenge uses 8 bytes (QEMU truncates longer VNC passwords); SPICE tickets are longer."""
_PASSWORD_ALPHABET = string.ascii_letters + string.digits


def random_console_password(protocol: Literal["vnc", "spice"] = "vnc") -> str:
    """A random console password for ``protocol``: what a desktop is defined with so that password
    authentication is on, and what each one-time ticket sets."""
    return "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(CONSOLE_PASSWORD_LENGTH[protocol]))


@dataclass
class Graphics:
    type: Literal["vnc", "spice"] = "vnc"
    port: int | None = field(default=None, metadata={"compare": False})
    """None: autoport. Read back from a running domain."""
    listen: str = "127.0.0.1"
    passwd: str | None = field(default=None, repr=False, metadata={"compare": "presence"})
    """Set: password authentication on (QEMU can then take one-time passwords, see
    :mod:`vdi.console_tickets`); None: no password, and no tickets ever. Only its presence is compared:
    it is random, and libvirt shows it only with ``VIR_DOMAIN_XML_SECURE``. Never shown in reprs or
    differences."""


@dataclass
class Serial:
    """A serial port; the first one is also the guest console (``<console type=... target serial>``)."""

    type: Literal["pty", "unix"] = "pty"
    path: str | None = field(default=None, metadata={"compare": False})
    port: int = 0


@dataclass
class Video:
    model: str = "virtio"


@dataclass
class InputDevice:
    type: str
    bus: str


@dataclass
class Controller:
    type: str
    model: str | None = None


@dataclass
class Domain:
    name: str
    os: DomainOS
    memory_mib: int = 1024
    vcpus: int = 1
    type: str = "qemu"
    cpu: Cpu | None = None
    features: Features = field(default_factory=Features)
    disks: list[Disk] = field(default_factory=list)
    interfaces: list[Interface] = field(default_factory=list)
    graphics: list[Graphics] = field(default_factory=list)
    serials: list[Serial] = field(default_factory=list)
    video: Video | None = None
    inputs: list[InputDevice] = field(default_factory=list, metadata={"compare": "subset"})
    controllers: list[Controller] = field(default_factory=list, metadata={"compare": "subset"})
    description: str | None = None
    uuid: str | None = field(default=None, metadata={"compare": False})


# -- snapshots --------------------------------------------------------------------------------------


@dataclass
class SnapshotDisk:
    name: str
    """The disk's target device (``vda``)."""
    snapshot: Literal["no", "internal", "external"] = "external"
    source_file: str | None = None
    driver_type: str | None = "qcow2"


@dataclass
class Snapshot:
    name: str
    description: str | None = None
    memory: Literal["no", "internal", "external"] = "no"
    memory_file: str | None = None
    disks: list[SnapshotDisk] = field(default_factory=list)
    # read back from libvirt only (never rendered):
    state: str | None = field(default=None, metadata={"compare": False})
    """The domain's state when the snapshot was taken (``running``, ``shutoff``, ``disk-snapshot``)."""
    creation_time: int | None = field(default=None, metadata={"compare": False})
    """Seconds since the epoch."""
    parent: str | None = field(default=None, metadata={"compare": False})


@dataclass
class BackupDisk:
    """One disk of a push-mode backup job: where the hypervisor writes the copy."""

    name: str
    """The disk's target device (``vda``)."""
    target_file: str | None = None
    """None: this disk is not backed up."""
    driver_type: str = "qcow2"


@dataclass
class DomainBackup:
    """A full push-mode backup (``virDomainBackupBegin``): a point-in-time copy of each listed disk."""

    disks: list[BackupDisk] = field(default_factory=list)


@dataclass
class DiskOrigin:
    """Which pool volume a disk was defined on before external snapshots turned it into a file chain."""

    dev: str
    pool: str
    volume: str


@dataclass
class DesktopRecord:
    """What vdi remembers about a desktop in the domain's own ``<metadata>``: its golden image and the
    volumes its disks were defined on (reset and restore put the disks back on them)."""

    golden_pool: str | None = None
    golden_volume: str | None = None
    disks: list[DiskOrigin] = field(default_factory=list)


# -- comparing desired and actual definitions ---------------------------------------------------------


def differences(desired: Any, actual: Any, path: str = "") -> list[str]:
    """What in ``actual`` differs from ``desired``, as ``"path: actual, wanted desired"`` lines.

    Fields that are ``None`` in ``desired`` or marked ``compare=False`` are libvirt's to choose and are
    not compared. Lists compare element by element, except fields marked ``compare="subset"`` (devices
    libvirt adds implicitly, such as a PS/2 mouse), where each desired element must be present, and
    ``compare="presence"`` (secrets such as a console password), where only a wanted value's absence counts.
    """
    if desired is None:
        return []
    if is_dataclass(desired) and not isinstance(desired, type):
        if type(actual) is not type(desired):
            return [f"{path or type(desired).__name__}: {_show(actual)}, wanted {_show(desired)}"]
        out: list[str] = []
        for f in fields(desired):
            mode = f.metadata.get("compare", True)
            if mode is False:
                continue
            sub = f"{path}.{f.name}" if path else f.name
            want, have = getattr(desired, f.name), getattr(actual, f.name)
            if mode == "presence":
                if want is not None and have is None:
                    out.append(f"{sub}: none, wanted one (the value is not shown)")
            elif mode == "machine":
                if want is not None and not machine_matches(want, have):
                    out.append(f"{sub}: {have}, wanted {want}")
            elif mode == "subset":
                remaining = list(have)
                for item in want:
                    match = next((h for h in remaining if not differences(item, h)), None)
                    if match is None:
                        out.append(f"{sub}: missing {_show(item)}")
                    else:
                        remaining.remove(match)
            else:
                out.extend(differences(want, have, sub))
        return out
    if isinstance(desired, list):
        if not isinstance(actual, list) or len(actual) != len(desired):
            have_len = len(actual) if isinstance(actual, list) else "none"
            return [f"{path}: {have_len} entries, wanted {len(desired)}"]
        out = []
        for i, (want, have) in enumerate(zip(desired, actual, strict=True)):
            out.extend(differences(want, have, f"{path}[{i}]"))
        return out
    if desired != actual:
        return [f"{path}: {_show(actual)}, wanted {_show(desired)}"]
    return []


def machine_matches(wanted: str, actual: str | None) -> bool:
    """``q35`` matches ``pc-q35-10.0`` and ``virt`` matches ``virt-10.0``: libvirt expands aliases."""
    if actual is None:
        return False
    if actual == wanted:
        return True
    return re.fullmatch(rf"(pc-)?{re.escape(wanted)}-[0-9.]+", actual) is not None


def _show(value: Any) -> str:
    if value is None:
        return "none"
    if is_dataclass(value) and not isinstance(value, type):
        shown = ", ".join(
            f"{f.name}={getattr(value, f.name)!r}"
            for f in fields(value)
            if f.repr and getattr(value, f.name) is not None
        )
        return f"{type(value).__name__}({shown})"
    return str(value)
