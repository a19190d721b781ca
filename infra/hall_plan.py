"""Pure planning: a validated :class:`~infra.spec.HallSpec` -> the list of objects the hall needs.

No Pulumi and no libvirt here: this module decides every libvirt name, Pulumi resource name, pool,
network and size, so the wiring in :mod:`infra.components` only turns plans into resources, and tests
can check the whole hall without an engine. Naming (``p`` is the hall's prefix):

=================  ==============================  ==================================
object             libvirt name                    Pulumi resource
=================  ==============================  ==================================
network            ``p-<key>``                     ``networks-<host>-<key>``
isolation filter   ``p-<key>-isolation``           (part of its network)
pool               ``p-<key>``                     ``pool-<key>``
golden image       (``<image>-<sha12>.qcow2``)     ``image-<image>-<pool>``
window desktop     ``p-w007-gov``                  ``window-007-gov`` (+ ``-disk``)
app-tier VM        ``p-app-<name>``                ``app-tier-<name>`` (+ ``-disk``)
file server        ``p-<name>``                    ``storage-tier-<name>`` (+ ``-disk``)
=================  ==============================  ==================================
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field
from typing import Any

from images.catalog import get_image
from infra.spec import SIDES, HallSpec, WindowSpec

__all__ = [
    "DesktopPlan",
    "HallPlan",
    "ImagePlan",
    "NetworkPlan",
    "PoolPlan",
    "SeatPlan",
    "desktop_name",
    "filter_name",
    "plan_hall",
    "plan_seat",
    "scheduler_policies",
    "seat_resource_names",
    "window_resource",
]

POOL_ROOT = "/var/lib/libvirt/images"


@dataclass(frozen=True)
class NetworkPlan:
    key: str
    host: str
    resource: str
    name: str
    forward: str
    bridge: str | None
    gateway: str | None
    prefix: int | None
    dhcp_start: str | None
    dhcp_end: str | None
    filter: str
    """the network filter that keeps desktops on this network to it (:mod:`vdi.nwfilter`)"""
    isolated_from: tuple[str, ...]
    """subnets of the hall's other networks, which the filter drops"""


@dataclass(frozen=True)
class PoolPlan:
    key: str
    host: str
    resource: str
    name: str
    path: str


@dataclass(frozen=True)
class ImagePlan:
    image: str
    pool: str
    """pool key"""
    host: str
    resource: str
    pool_name: str
    test_image: bool
    file: str | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class DesktopPlan:
    """One domain: a linked clone of its image's golden volume plus a domain booting it."""

    resource: str
    name: str
    host: str
    image: str
    image_resource: str
    """the :class:`ImagePlan` whose golden volume it clones"""
    pool_name: str
    networks: tuple[str, ...]
    """libvirt network names, one NIC each"""
    network_keys: tuple[str, ...]
    memory_mib: int
    vcpus: int
    purpose: str
    """What the machine is for, in words (its libvirt description, and the subject of errors)."""
    running: bool
    filtered: bool = False
    """each NIC references its network's isolation filter (seat desktops)"""

    @property
    def disk_resource(self) -> str:
        return f"{self.resource}-disk"

    @property
    def disk_volume(self) -> str:
        return f"{self.name}--{self.image}.qcow2"


@dataclass(frozen=True)
class SeatPlan:
    number: int
    window_name: str
    resource: str
    gov: DesktopPlan
    internet: DesktopPlan
    snapshot_policy: dict[str, Any] | None

    @property
    def desktops(self) -> tuple[DesktopPlan, DesktopPlan]:
        return (self.gov, self.internet)


@dataclass(frozen=True)
class HallPlan:
    name: str
    prefix: str
    networks: list[NetworkPlan] = field(default_factory=list)
    pools: list[PoolPlan] = field(default_factory=list)
    images: list[ImagePlan] = field(default_factory=list)
    seats: list[SeatPlan] = field(default_factory=list)
    app_vms: list[DesktopPlan] = field(default_factory=list)
    storage_pool: PoolPlan | None = None
    file_server: DesktopPlan | None = None

    @property
    def domains(self) -> list[DesktopPlan]:
        out = [d for seat in self.seats for d in seat.desktops] + list(self.app_vms)
        if self.file_server is not None:
            out.append(self.file_server)
        return out

    def network(self, host: str, key: str) -> NetworkPlan:
        return next(n for n in self.networks if n.host == host and n.key == key)

    def image(self, resource: str) -> ImagePlan:
        return next(i for i in self.images if i.resource == resource)


def bridge_name(network: str) -> str:
    """A Linux bridge name (at most 15 characters) that is stable for a libvirt network name."""
    return "hc" + hashlib.sha256(network.encode()).hexdigest()[:10]


def window_resource(number: int) -> str:
    return f"window-{number:03d}"


def desktop_name(spec: HallSpec, number: int, side: str) -> str:
    """The libvirt domain name of window ``number``'s ``side`` desktop."""
    return f"{spec.prefix}-w{number:03d}-{side}"


def filter_name(network: str) -> str:
    """The libvirt name of the isolation filter of libvirt network ``network``."""
    return f"{network}-isolation"


def _network_plans(spec: HallSpec) -> list[NetworkPlan]:
    plans = []
    for key, net in spec.networks.items():
        others = tuple(
            str(other.subnet) for k, other in spec.networks.items() if k != key and other.subnet is not None
        )
        for host in spec.hosts_of_network(key):
            gateway = prefix = start = end = None
            if net.subnet is not None:
                hosts = list(net.subnet.hosts())
                gateway, prefix = str(hosts[0]), net.subnet.prefixlen
                if net.dhcp:
                    start = str(hosts[min(9, len(hosts) // 2)])
                    end = str(hosts[-1])
            bridge = spec.hosts[host].bridges.get(key) or net.bridge
            if bridge is None:
                # named by us, not by libvirt: libvirt picks the same free virbrN for networks started
                # at the same moment (the engine creates them in parallel)
                bridge = bridge_name(f"{spec.prefix}-{key}")
            plans.append(
                NetworkPlan(
                    key=key,
                    host=host,
                    resource=f"networks-{host}-{key}",
                    name=f"{spec.prefix}-{key}",
                    forward=net.forward,
                    bridge=bridge,
                    gateway=gateway,
                    prefix=prefix,
                    dhcp_start=start,
                    dhcp_end=end,
                    filter=filter_name(f"{spec.prefix}-{key}"),
                    isolated_from=others,
                )
            )
    return plans


def _pool_plans(spec: HallSpec) -> list[PoolPlan]:
    return [
        PoolPlan(
            key=key,
            host=spec.host_of_pool(key),
            resource=f"pool-{key}",
            name=f"{spec.prefix}-{key}",
            path=pool.path or f"{POOL_ROOT}/{spec.prefix}-{key}",
        )
        for key, pool in spec.pools.items()
    ]


def _image_plans(spec: HallSpec) -> list[ImagePlan]:
    plans = []
    for name, image in spec.images.items():
        manifest = get_image(name)
        for pool in image.pools:
            plans.append(
                ImagePlan(
                    image=name,
                    pool=pool,
                    host=spec.host_of_pool(pool),
                    resource=f"image-{name}-{pool}",
                    pool_name=f"{spec.prefix}-{pool}",
                    test_image=manifest.source.kind == "test-image",
                    file=image.file,
                    sha256=image.sha256,
                )
            )
    return plans


def _machine(
    spec: HallSpec,
    images: list[ImagePlan],
    *,
    resource: str,
    name: str,
    host: str | None,
    image: str,
    networks: list[str],
    memory_mib: int | None,
    vcpus: int | None,
    purpose: str,
    filtered: bool = False,
) -> DesktopPlan:
    where = host or spec.default_host
    golden = next(i for i in images if i.image == image and i.host == where)
    manifest = get_image(image)
    return DesktopPlan(
        resource=resource,
        name=name,
        host=where,
        image=image,
        image_resource=golden.resource,
        pool_name=golden.pool_name,
        networks=tuple(f"{spec.prefix}-{n}" for n in networks),
        network_keys=tuple(networks),
        memory_mib=memory_mib or manifest.memory_mib,
        vcpus=vcpus or manifest.vcpus,
        purpose=purpose,
        running=spec.settings.start_desktops,
        filtered=filtered,
    )


def _policy(spec: HallSpec, window: WindowSpec) -> dict[str, Any] | None:
    """The window's policy as :meth:`vdi.policy.Policy.from_mapping` reads it, backup pool resolved to
    its libvirt name."""
    policy = window.snapshot_policy
    if policy is None:
        return None
    data = dict(spec.snapshot_policies[policy] if isinstance(policy, str) else policy)
    if data.get("backup_pool") is not None:
        data["backup_pool"] = f"{spec.prefix}-{data['backup_pool']}"
    return data


def scheduler_policies(spec: HallSpec) -> dict[str, Any]:
    """The snapshot scheduler's policy file (``hall snapshots scheduler``) for every windowed desktop."""
    desktops = {}
    for window in spec.windows:
        policy = _policy(spec, window)
        if policy is None:
            continue
        for side in SIDES:
            desktops[desktop_name(spec, window.number, side)] = copy.deepcopy(policy)
    return {"desktops": desktops}


def plan_seat(spec: HallSpec, window: WindowSpec, images: list[ImagePlan] | None = None) -> SeatPlan:
    """The seat of one window: two desktops, each with exactly one NIC on its side's network, which
    references that network's isolation filter."""
    images = images if images is not None else _image_plans(spec)
    resource = window_resource(window.number)
    desktops = {}
    for side in SIDES:
        desktop = window.seat.side(side)
        desktops[side] = _machine(
            spec,
            images,
            resource=f"{resource}-{side}",
            name=desktop_name(spec, window.number, side),
            host=window.host,
            image=desktop.image,
            networks=[window.seat.network_of(side)],
            memory_mib=desktop.memory_mib,
            vcpus=desktop.vcpus,
            purpose=f"window {window.number} ({window.name}) {side} desktop",
            # the host answers on all its addresses on every bridge: without the filter a desktop
            # reaches the host's address on the other side's network
            filtered=True,
        )
    return SeatPlan(
        number=window.number,
        window_name=window.name,
        resource=resource,
        gov=desktops["gov"],
        internet=desktops["internet"],
        snapshot_policy=_policy(spec, window),
    )


def seat_resource_names(seat: SeatPlan) -> list[str]:
    """Pulumi names of a seat's children (the component itself is ``seat.resource``)."""
    return [name for d in seat.desktops for name in (d.disk_resource, d.resource)]


def plan_hall(spec: HallSpec) -> HallPlan:
    """Everything the hall needs, in dependency order within each list."""
    images = _image_plans(spec)
    pools = _pool_plans(spec)
    app_vms = [
        _machine(
            spec,
            images,
            resource=f"app-tier-{vm.name}",
            name=f"{spec.prefix}-app-{vm.name}",
            host=vm.host,
            image=vm.image,
            networks=vm.networks,
            memory_mib=vm.memory_mib,
            vcpus=vm.vcpus,
            purpose=f"app tier VM {vm.name}",
        )
        for vm in spec.app_tier.vms
    ]
    file_server = None
    fs = spec.storage_tier.file_server
    if fs is not None:
        file_server = _machine(
            spec,
            images,
            resource=f"storage-tier-{fs.name}",
            name=f"{spec.prefix}-{fs.name}",
            host=fs.host,
            image=fs.image,
            networks=fs.networks,
            memory_mib=fs.memory_mib,
            vcpus=fs.vcpus,
            purpose=f"storage tier file server {fs.name}",
        )
    storage_pool = next(p for p in pools if p.key == spec.storage_tier.pool)
    return HallPlan(
        name=spec.name,
        prefix=spec.prefix,
        networks=_network_plans(spec),
        pools=[p for p in pools if p is not storage_pool],
        images=images,
        seats=[plan_seat(spec, w, images) for w in sorted(spec.windows, key=lambda w: w.number)],
        app_vms=app_vms,
        storage_pool=storage_pool,
        file_server=file_server,
    )
