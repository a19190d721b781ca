"""The Domain provider: a desktop or VM defined from its catalog image's machine profile, and started.

``read`` reports what libvirt really has (defined or not, running or not, VNC port, MACs, DHCP
addresses), so ``pulumi refresh`` notices a desktop that was undefined or stopped behind Pulumi's back:
an undefined one leaves the state, a stopped one shows ``running: false`` and the next ``up`` starts it.

Consoles: the domain is planned with password authentication on (:func:`vdi.domain_plan.plan_domain`), so
clerks can be given one-time console tickets (:mod:`vdi.console_tickets`). Its random password is made inside
``create``; it is no input, so it is in no output and not in the stack's state, and ``read`` uses the
definition without ``VIR_DOMAIN_XML_SECURE``, which never shows it.
"""

from __future__ import annotations

import functools
import time
from typing import Any

import libvirt
import pulumi
from pulumi.dynamic import CheckFailure, CreateResult, ReadResult, Resource, UpdateResult

from images.catalog import CatalogError, get_image
from images.profiles import ResolvedFirmware
from infra.providers.base import BOOT_FIELDS, HallProvider, changed_fields, is_unknown, split_id
from vdi import cancel
from vdi.conn import libvirt_errors
from vdi.domain import define_domain, lookup_domain, start_domain, stop_domain, undefine_domain
from vdi.domain_plan import DiskSource, DomainRequest, KernelBoot, image_for, plan_domain
from vdi.nwfilter import set_interface_filters
from vdi.render import parse_domain

__all__ = ["BOOT_FIELDS", "Domain", "DomainProvider", "live_state"]


def _field(key: str, values: dict[str, Any] | None) -> Any:
    return (values or {}).get(key)


def _request(props: dict[str, Any]) -> DomainRequest:
    firmware = None
    if props.get("loader"):
        firmware = ResolvedFirmware(
            loader=props["loader"],
            loader_type=props.get("loader_type") or "pflash",
            secure_boot=bool(props.get("secure_boot")),
            nvram_template=props.get("nvram_template"),
            local=False,
        )
    kernel_boot = None
    if props.get("kernel"):
        kernel_boot = KernelBoot(props["kernel"], props["initrd"], props.get("cmdline") or "")
    return DomainRequest(
        name=props["name"],
        disks=[DiskSource(pool=props["pool"], volume=props["disk"])],
        networks=list(props["networks"]),
        network_filters=_network_filters(props),
        kernel_boot=kernel_boot,
        firmware=firmware,
        memory_mib=int(props["memory_mib"]),
        vcpus=int(props["vcpus"]),
        description=props.get("description"),
    )


def _network_filters(props: dict[str, Any]) -> dict[str, str]:
    """Network -> the filter its NIC references (``filters`` lists one per network, or is empty)."""
    filters = props.get("filters") or []
    return {net: flt for net, flt in zip(props["networks"], filters, strict=False) if flt}


def _addresses(dom: libvirt.virDomain) -> dict[str, str]:
    """MAC -> IPv4 address from the networks' DHCP leases (empty until the guest has asked)."""
    try:
        ifaces = dom.interfaceAddresses(libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE, 0)
    except libvirt.libvirtError:
        return {}
    out = {}
    for iface in (ifaces or {}).values():
        for addr in iface.get("addrs") or []:
            if addr.get("type") == libvirt.VIR_IP_ADDR_TYPE_IPV4 and iface.get("hwaddr"):
                out[iface["hwaddr"]] = addr["addr"]
    return out


def live_state(conn: libvirt.virConnect, name: str, wait_seconds: float = 0) -> dict[str, Any] | None:
    """What libvirt has for domain ``name``: None if undefined, else running/definition/console/addresses."""
    with libvirt_errors(f"domain {name}", "read the domain"):
        dom = lookup_domain(conn, name)
        if dom is None:
            return None
        running = bool(dom.isActive())
        definition = parse_domain(dom.XMLDesc(0))
        macs = [i.mac for i in definition.interfaces if i.mac]
        addresses: dict[str, str] = {}
        if running:
            deadline = time.monotonic() + wait_seconds
            while True:
                addresses = _addresses(dom)
                if len(addresses) >= len(macs) or time.monotonic() >= deadline:
                    break
                cancel.sleep(1, f"domain {name}")
    vnc = next((g for g in definition.graphics if g.type == "vnc"), None)
    return {
        "running": running,
        "memory_mib": definition.memory_mib,
        "vcpus": definition.vcpus,
        "networks": [i.source for i in definition.interfaces],
        "filters": [i.filter for i in definition.interfaces],
        "macs": macs,
        "addresses": [addresses.get(m) for m in macs],
        "vnc_listen": vnc.listen if vnc is not None and running else None,
        "vnc_port": vnc.port if vnc is not None and running and vnc.port and vnc.port > 0 else None,
        "uuid": definition.uuid,
    }


class DomainProvider(HallProvider):
    kind = "domain"
    required = ("host", "name", "image", "pool", "disk", "networks", "memory_mib", "vcpus")
    replace_fields = (
        "host",
        "name",
        "image",
        "pool",
        "disk",
        "networks",
        "memory_mib",
        "vcpus",
        *BOOT_FIELDS,
    )
    update_fields = ("running", "description", "address_wait_seconds", "filters")
    """``filters`` change in place (live and persistent) so that desktops defined before their NICs had
    filters are not replaced."""

    def validate(self, news: dict[str, Any]) -> list[CheckFailure]:
        failures = []
        image = news.get("image")
        if image and not is_unknown(image):
            try:
                get_image(str(image))
            except CatalogError as exc:
                failures.append(CheckFailure("image", str(exc)))
        networks = news.get("networks")
        if isinstance(networks, list) and not is_unknown(networks) and len(set(networks)) != len(networks):
            failures.append(CheckFailure("networks", f"domain: a network is listed twice ({networks})"))
        filters = news.get("filters")
        if (
            isinstance(networks, list)
            and isinstance(filters, list)
            and filters
            and not is_unknown(networks)
            and len(filters) != len(networks)
        ):
            failures.append(
                CheckFailure("filters", f"domain: {len(filters)} filters for {len(networks)} networks")
            )
        memory = news.get("memory_mib")
        if isinstance(memory, int | float) and memory < 64:
            failures.append(CheckFailure("memory_mib", f"domain: {memory} MiB is too little (at least 64)"))
        return failures

    def _outs(self, props: dict[str, Any], state: dict[str, Any] | None) -> dict[str, Any]:
        outs = {**props}
        if state is not None:
            outs.update(state)
            if not props.get("filters"):  # not managed here: reporting libvirt's would be a diff forever
                outs["filters"] = props.get("filters")
        return outs

    def create(self, props: dict[str, Any]) -> CreateResult:
        domain = plan_domain(image_for(props["image"]), _request(props))
        host, name = props["host"], props["name"]
        with self.connect(host) as conn:
            created = define_domain(conn, domain) == "created"
            try:
                if props.get("running", True):
                    start_domain(conn, name)
                state = live_state(conn, name, float(props.get("address_wait_seconds") or 0))
            except BaseException:
                # a domain that cannot start (or whose create was interrupted) is not left half-created
                if created:
                    undefine_domain(conn, name)
                raise
        return CreateResult(id_=f"{host}/{name}", outs=self._outs(props, state))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        host, name = split_id(id_)
        with self.connect(host) as conn:
            state = live_state(conn, name)
        if state is None:
            return ReadResult(None, {})  # undefined behind our back: refresh drops it from the state
        return ReadResult(id_, self._outs({**props, "host": host, "name": name}, state))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        host, name = split_id(id_)
        with self.connect(host) as conn:
            if changed_fields(olds, news, ("filters",)) and news.get("filters"):
                set_interface_filters(conn, name, _network_filters(news))
            if news.get("running", True):
                start_domain(conn, name)
            else:
                stop_domain(conn, name, graceful_seconds=10)
            state = live_state(conn, name, float(news.get("address_wait_seconds") or 0))
        return UpdateResult(outs=self._outs(news, state))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        host, name = split_id(id_)
        with self.connect(host) as conn:
            undefine_domain(conn, name)


class Domain(Resource, module="hallcloud", name="Domain"):
    """A libvirt domain booting ``image`` from volume ``disk``, one NIC per network (referencing
    ``filters[i]``, the network filter of ``networks[i]``, when given), VNC + serial console."""

    name: pulumi.Output[str]
    running: pulumi.Output[bool]
    macs: pulumi.Output[list[str]]
    addresses: pulumi.Output[list[str | None]]
    vnc_listen: pulumi.Output[str | None]
    vnc_port: pulumi.Output[int | None]
    uuid: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        *,
        host: str,
        name: str,
        image: str,
        pool: pulumi.Input[str],
        disk: pulumi.Input[str],
        networks: pulumi.Input[list[str]],
        memory_mib: int,
        filters: pulumi.Input[list[str | None]] | None = None,
        vcpus: int,
        boot: pulumi.Input[dict[str, Any]] | None = None,
        running: bool = True,
        description: str | None = None,
        address_wait_seconds: float = 0,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "host": host,
            "name": name,
            "image": image,
            "pool": pool,
            "disk": disk,
            "networks": networks,
            "filters": filters,
            "memory_mib": memory_mib,
            "vcpus": vcpus,
            "running": running,
            "description": description,
            "address_wait_seconds": address_wait_seconds,
        }
        boot_out: pulumi.Output[dict[str, Any]] = pulumi.Output.from_input(boot or {})
        for key in BOOT_FIELDS:
            props[key] = boot_out.apply(functools.partial(_field, key))
        for out in ("macs", "addresses", "vnc_listen", "vnc_port", "uuid"):
            props[out] = None
        super().__init__(DomainProvider(), resource_name, props, opts)
