"""The models behind the expected-output XML files in ``data/`` (shared by the render tests).

Each case builds a model; the render tests compare its XML with the expected file, the way virtinst's
``tests/data/xmlparse`` does, and parse the file back into the same model.
"""

from __future__ import annotations

from collections.abc import Callable

from images.catalog import get_image
from images.profiles import ResolvedFirmware
from vdi.domain_plan import DiskSource, DomainRequest, KernelBoot, plan_domain
from vdi.models import (
    BackingStore,
    Domain,
    Network,
    NetworkFilter,
    NetworkIP,
    Pool,
    PoolAuth,
    PoolHost,
    PoolSource,
    Snapshot,
    SnapshotDisk,
    Volume,
)
from vdi.nwfilter import isolation_filter

Model = Domain | Network | NetworkFilter | Pool | Volume | Snapshot

POOL = "/var/lib/libvirt/images/hallcloud"
CONSOLE_PASSWORD = "hc-Test1"
"""Desktops are planned with a random console password; the expected files use this fixed one."""


def _test_guest(arch: str, firmware: ResolvedFirmware | None = None) -> Domain:
    manifest = get_image(f"hallcloud-test-{arch}")
    console = {"x86_64": "ttyS0", "aarch64": "ttyAMA0", "loongarch64": "ttyS0"}[arch]
    request = DomainRequest(
        name=f"desk-{arch}",
        disks=[DiskSource(pool="hallcloud", volume=f"desk-{arch}.qcow2")],
        networks=["gov", "internet"],
        kernel_boot=KernelBoot(f"{POOL}/vmlinuz-{arch}", f"{POOL}/initrd-{arch}", f"console={console}"),
        firmware=firmware,
        console_password=CONSOLE_PASSWORD,
    )
    return plan_domain(manifest, request)


def _seat_desktop() -> Domain:
    """A seat's gov desktop: one NIC, on gov, held to it by gov's isolation filter."""
    request = DomainRequest(
        name="w001-gov",
        disks=[DiskSource(pool="hallcloud", volume="w001-gov.qcow2")],
        networks=["gov"],
        network_filters={"gov": "gov-isolation"},
        kernel_boot=KernelBoot(f"{POOL}/vmlinuz-x86_64", f"{POOL}/initrd-x86_64", "console=ttyS0"),
        console_password=CONSOLE_PASSWORD,
    )
    return plan_domain(get_image("hallcloud-test-x86_64"), request)


HALL_SUBNETS = {"gov": "10.231.1.0/24", "internet": "10.231.2.0/24", "mgmt": "10.231.3.0/24"}


def _isolation_filter(key: str, forward: str) -> NetworkFilter:
    base = HALL_SUBNETS[key].rsplit(".", 1)[0]
    network = Network(
        name=key,
        forward=forward,  # type: ignore[arg-type]
        ip=NetworkIP(f"{base}.1", 24, f"{base}.10", f"{base}.254"),
    )
    others = [subnet for k, subnet in HALL_SUBNETS.items() if k != key]
    return isolation_filter(f"{key}-isolation", network, others)


def _os_image(name: str) -> Domain:
    request = DomainRequest(
        name=name,
        disks=[DiskSource(pool="hallcloud", volume=f"{name}.qcow2")],
        networks=["gov"],
        console_password=CONSOLE_PASSWORD,
    )
    return plan_domain(get_image(name), request)


LOONGARCH_FIRMWARE = ResolvedFirmware(
    loader=f"{POOL}/loongarch64-uefi-code",
    loader_type="pflash",
    secure_boot=False,
    nvram_template=f"{POOL}/loongarch64-uefi-vars",
    local=False,
)

# expected file name -> (libvirt schema, the model it renders)
CASES: dict[str, tuple[str, Callable[[], Model]]] = {
    "domain-x86_64-test.xml": ("domain", lambda: _test_guest("x86_64")),
    "domain-x86_64-uefi.xml": ("domain", lambda: _os_image("openeuler-24.03-lts-x86_64")),
    "domain-aarch64-test.xml": ("domain", lambda: _test_guest("aarch64")),
    "domain-aarch64-uefi.xml": ("domain", lambda: _os_image("kylin-v10-sp3-aarch64")),
    "domain-loongarch64-test.xml": ("domain", lambda: _test_guest("loongarch64", LOONGARCH_FIRMWARE)),
    "domain-x86_64-seat-filtered.xml": ("domain", _seat_desktop),
    "nwfilter-isolated.xml": ("nwfilter", lambda: _isolation_filter("gov", "isolated")),
    "nwfilter-nat.xml": ("nwfilter", lambda: _isolation_filter("internet", "nat")),
    "network-isolated.xml": ("network", lambda: Network(name="gov")),
    "network-nat.xml": (
        "network",
        lambda: Network(
            name="internet",
            forward="nat",
            ip=NetworkIP("192.168.150.1", 24, "192.168.150.100", "192.168.150.199"),
        ),
    ),
    "network-bridge.xml": (
        "network",
        lambda: Network(name="hall-lan", forward="bridge", bridge="br0"),
    ),
    "pool-dir.xml": ("storagepool", lambda: Pool(name="hallcloud", target_path=POOL)),
    "pool-netfs.xml": (
        "storagepool",
        lambda: Pool(
            name="storage-tier",
            type="netfs",
            target_path="/var/lib/libvirt/images/storage-tier",
            source=PoolSource(hosts=[PoolHost("nas.hall.local")], dir="/export/vdi", format="nfs"),
        ),
    ),
    "pool-rbd.xml": (
        "storagepool",
        lambda: Pool(
            name="ceph-vdi",
            type="rbd",
            source=PoolSource(
                hosts=[PoolHost("ceph-mon1.hall.local", 6789), PoolHost("ceph-mon2.hall.local", 6789)],
                name="vdi",
                auth=PoolAuth(username="libvirt", secret_uuid="2a5b3c4d-1e2f-4a5b-9c8d-7e6f5a4b3c2d"),
            ),
        ),
    ),
    "volume-golden.xml": (
        "storagevol",
        lambda: Volume(name="golden.qcow2", capacity_bytes=20 * 1024**3),
    ),
    "volume-clone.xml": (
        "storagevol",
        lambda: Volume(
            name="desk-01.qcow2",
            capacity_bytes=20 * 1024**3,
            backing=BackingStore(path=f"{POOL}/golden.qcow2"),
        ),
    ),
    "snapshot-external.xml": (
        "domainsnapshot",
        lambda: Snapshot(
            name="daily-0800",
            description="scheduled snapshot",
            memory="external",
            memory_file=f"{POOL}/desk-01.daily-0800.mem",
            disks=[SnapshotDisk("vda", "external", f"{POOL}/desk-01.daily-0800.qcow2")],
        ),
    ),
}
