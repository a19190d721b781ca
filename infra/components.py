"""Pulumi components of the hall: HallNetworks, Seat, AppTier, StorageTier.

Each takes ``(name, args, opts)``, names its children from its own name with ``parent=self``, and
calls ``register_outputs`` last. They only turn the plans of :mod:`infra.hall_plan` into provider resources;
every decision (names, sizes, which network) was made there.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import pulumi

from infra.hall_plan import DesktopPlan, NetworkPlan, PoolPlan, SeatPlan
from infra.outputs import DesktopOutputs, SeatOutputs
from infra.providers import Domain, GoldenImage, Network, StoragePool, Volume
from infra.spec import ISOLATED_PAIR

__all__ = [
    "AppTier",
    "AppTierArgs",
    "HallNetworks",
    "HallNetworksArgs",
    "IsolationError",
    "Seat",
    "SeatArgs",
    "StorageTier",
    "StorageTierArgs",
    "machine",
]

TYPE_PREFIX = "hallcloud:hall"


class IsolationError(ValueError):
    """The program was asked for something that would bridge the gov and internet networks."""


def console_of(domain: Domain, host: str, name: str) -> pulumi.Output[dict[str, Any]]:
    """A desktop's consoles: the VNC endpoint (when running) and how to reach its serial console."""
    return pulumi.Output.all(domain.vnc_listen, domain.vnc_port).apply(
        lambda lp: {
            "vnc": f"{lp[0]}:{lp[1]}" if lp[0] and lp[1] else None,
            "serial": f"host {host}: virsh console {name}",
        }
    )


def machine(
    plan: DesktopPlan,
    networks: dict[tuple[str, str], Network],
    images: dict[str, GoldenImage],
    parent: pulumi.Resource,
    address_wait_seconds: float = 0,
) -> tuple[Volume, Domain]:
    """A linked-clone disk and the domain booting it, as children of ``parent``."""
    golden = images[plan.image_resource]
    opts = pulumi.ResourceOptions(parent=parent)
    disk = Volume(
        plan.disk_resource,
        host=plan.host,
        pool=golden.pool,
        name=plan.disk_volume,
        golden=golden.volume,
        opts=opts,
    )
    boot = golden.boot
    nets = pulumi.Output.all(*(networks[(plan.host, key)].name for key in plan.network_keys))
    filters = None
    if plan.filtered:
        filters = pulumi.Output.all(*(networks[(plan.host, key)].filter for key in plan.network_keys))
    domain = Domain(
        plan.resource,
        host=plan.host,
        name=plan.name,
        image=plan.image,
        pool=disk.pool,
        disk=disk.name,
        networks=nets.apply(list),
        filters=filters.apply(list) if filters is not None else None,
        memory_mib=plan.memory_mib,
        vcpus=plan.vcpus,
        boot=boot,
        running=plan.running,
        description=f"HallCloud {plan.purpose}",
        address_wait_seconds=address_wait_seconds,
        opts=opts,
    )
    return disk, domain


def describe(plan: DesktopPlan, domain: Domain) -> pulumi.Output[dict[str, Any]]:
    """The machine's exported outputs (:class:`infra.outputs.DesktopOutputs`)."""
    return pulumi.Output.all(
        console_of(domain, plan.host, plan.name), domain.addresses, domain.macs, domain.running
    ).apply(
        lambda v: DesktopOutputs(
            domain=plan.name,
            host=plan.host,
            image=plan.image,
            networks=plan.network_keys,
            vnc=v[0]["vnc"],
            serial=v[0]["serial"],
            addresses=tuple(v[1] or ()),
            macs=tuple(v[2] or ()),
            running=v[3],
        ).to_output()
    )


# -- networks ----------------------------------------------------------------------------------------


@dataclass
class HallNetworksArgs:
    networks: list[NetworkPlan]


class HallNetworks(pulumi.ComponentResource):
    """Every hall network on every host that carries it."""

    networks: dict[tuple[str, str], Network]

    def __init__(self, name: str, args: HallNetworksArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TYPE_PREFIX}:HallNetworks", name, None, opts)
        check_network_isolation(args.networks)
        self.networks = {}
        for plan in args.networks:
            suffix = plan.resource.removeprefix("networks-")
            self.networks[(plan.host, plan.key)] = Network(
                f"{name}-{suffix}",
                host=plan.host,
                name=plan.name,
                forward=plan.forward,
                bridge=plan.bridge,
                gateway=plan.gateway,
                prefix=plan.prefix,
                dhcp_start=plan.dhcp_start,
                dhcp_end=plan.dhcp_end,
                filter=plan.filter,
                isolated_from=list(plan.isolated_from),
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.summary = {
            f"{p.host}/{p.key}": {
                "name": p.name,
                "forward": p.forward,
                "gateway": p.gateway,
                "prefix": p.prefix,
            }
            for p in args.networks
        }
        self.register_outputs({"networks": self.summary})


def check_network_isolation(networks: list[NetworkPlan]) -> None:
    """Refuse gov and internet sharing a bridge on any host (the spec refuses it first; this is the
    last line before libvirt)."""
    a, b = ISOLATED_PAIR
    for host in {n.host for n in networks}:
        on_host = {n.key: n for n in networks if n.host == host}
        if a in on_host and b in on_host:
            ga, gb = on_host[a], on_host[b]
            if ga.bridge is not None and ga.bridge == gb.bridge:
                raise IsolationError(f"host {host}: networks '{a}' and '{b}' would share bridge {ga.bridge}")
            if ga.name == gb.name:
                raise IsolationError(f"host {host}: networks '{a}' and '{b}' would be one libvirt network")


# -- seats -------------------------------------------------------------------------------------------


@dataclass
class SeatArgs:
    seat: SeatPlan
    networks: dict[tuple[str, str], Network]
    images: dict[str, GoldenImage]
    address_wait_seconds: float = 0


class Seat(pulumi.ComponentResource):
    """One window's seat (一屏双机): a gov desktop and an internet desktop, one business NIC each, each on
    its own network and held to it by that network's isolation filter, each with a console. Outputs
    both desktops' consoles and addresses."""

    def __init__(self, name: str, args: SeatArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TYPE_PREFIX}:Seat", name, None, opts)
        seat = args.seat
        check_seat_isolation(seat)
        self.desktops: dict[str, Domain] = {}
        self.disks: dict[str, Volume] = {}
        described = {}
        for side, plan in (("gov", seat.gov), ("internet", seat.internet)):
            renamed = _rename(plan, f"{name}-{side}")
            disk, domain = machine(renamed, args.networks, args.images, self, args.address_wait_seconds)
            self.disks[side], self.desktops[side] = disk, domain
            described[side] = describe(renamed, domain)
        self.number = seat.number
        self.outputs = pulumi.Output.all(gov=described["gov"], internet=described["internet"]).apply(
            lambda d: SeatOutputs(
                window=seat.number,
                name=seat.window_name,
                gov=DesktopOutputs.parse(d["gov"]),
                internet=DesktopOutputs.parse(d["internet"]),
                snapshot_policy=seat.snapshot_policy,
            ).to_output()
        )
        self.register_outputs({"seat": self.outputs})


def check_seat_isolation(seat: SeatPlan) -> None:
    """A seat's desktops have exactly one business NIC each, on two different networks, never the
    internet desktop on gov nor the gov desktop on internet."""
    a, b = ISOLATED_PAIR
    for side, plan in (("gov", seat.gov), ("internet", seat.internet)):
        if len(plan.network_keys) != 1:
            raise IsolationError(
                f"window {seat.number}: the {side} desktop must have exactly one business NIC, "
                f"not {len(plan.network_keys)} ({', '.join(plan.network_keys)})"
            )
    if seat.gov.network_keys == seat.internet.network_keys:
        raise IsolationError(
            f"window {seat.number}: both desktops would be on network '{seat.gov.network_keys[0]}'"
        )
    if b in seat.gov.network_keys or a in seat.internet.network_keys:
        raise IsolationError(f"window {seat.number}: a desktop would sit on the other side's network")


def _rename(plan: DesktopPlan, resource: str) -> DesktopPlan:
    return replace(plan, resource=resource)


# -- tiers -------------------------------------------------------------------------------------------


@dataclass
class AppTierArgs:
    vms: list[DesktopPlan]
    networks: dict[tuple[str, str], Network]
    images: dict[str, GoldenImage]


def check_vm_isolation(plan: DesktopPlan) -> None:
    a, b = ISOLATED_PAIR
    if a in plan.network_keys and b in plan.network_keys:
        raise IsolationError(f"{plan.purpose}: NICs on both '{a}' and '{b}' would bridge them")


class AppTier(pulumi.ComponentResource):
    """The hall's application VMs (queue system, device manager, ...)."""

    def __init__(self, name: str, args: AppTierArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TYPE_PREFIX}:AppTier", name, None, opts)
        self.vms: dict[str, Domain] = {}
        described = {}
        for plan in args.vms:
            check_vm_isolation(plan)
            short = plan.resource.removeprefix("app-tier-")
            renamed = _rename(plan, f"{name}-{short}")
            _disk, domain = machine(renamed, args.networks, args.images, self)
            self.vms[short] = domain
            described[short] = describe(renamed, domain)
        self.outputs = pulumi.Output.all(**described) if described else pulumi.Output.from_input({})
        self.register_outputs({"vms": self.outputs})


@dataclass
class StorageTierArgs:
    pool: PoolPlan
    file_server: DesktopPlan | None
    networks: dict[tuple[str, str], Network]
    images: dict[str, GoldenImage]


class StorageTier(pulumi.ComponentResource):
    """The storage tier: the backup pool (target of snapshot policies) and the file-server VM."""

    pool: StoragePool

    def __init__(self, name: str, args: StorageTierArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TYPE_PREFIX}:StorageTier", name, None, opts)
        self.pool = StoragePool(
            f"{name}-pool",
            host=args.pool.host,
            name=args.pool.name,
            path=args.pool.path,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.file_server: Domain | None = None
        self._fs_plan = args.file_server
        self._args = args
        self.outputs: pulumi.Output[dict[str, Any]] = pulumi.Output.from_input(
            {"pool": args.pool.name, "file_server": None}
        )

    def add_file_server(self, images: dict[str, GoldenImage]) -> None:
        """Create the file server (after the golden images, which may live in this tier's pool), then
        register the outputs."""
        plan = self._fs_plan
        if plan is not None:
            check_vm_isolation(plan)
            short = plan.resource.removeprefix("storage-tier-")
            renamed = _rename(plan, f"{self._name}-{short}")
            _disk, self.file_server = machine(renamed, self._args.networks, images, self)
            self.outputs = describe(renamed, self.file_server).apply(
                lambda d: {"pool": self._args.pool.name, "file_server": d}
            )
        self.register_outputs({"storage": self.outputs})
