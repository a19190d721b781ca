"""Network filters that keep a guest to its own network, and idempotent operations on them.

Why they exist: Linux answers packets for any of its addresses on any interface (the *weak host*
model). A hypervisor with a bridge per network therefore answers a desktop on the internet network that
sends to the host's address on the gov bridge: routing (NAT networks give the guest a default route
via the host) delivers it, and libvirt's own firewall rules only restrict *forwarded* traffic. The
desktops cannot reach each other, but whatever the host offers on the gov side would be reachable from
the internet side.

The fix is on the guest's own port, where the traffic starts: :func:`isolation_filter` plans, per
network, a filter that drops IPv4 the guest sends to the subnet of any *other* network (which holds
that network's gateway, the host's address there). On an isolated network, which forwards nothing,
the guest has no business beyond its own subnet at all: the filter admits only its subnet, broadcast
(DHCP) and link-local multicast, and drops the rest, so the host's other addresses (its uplink, other
bridges not known to the hall) are out of reach too. On NAT and bridge networks anything else must
pass (the internet desktop browses the internet). Non-IPv4 frames pass: ARP is needed, and libvirt
turns IPv6 off on bridges of networks without IPv6 addresses.

The rules are ebtables rules (``<ip>`` protocol) on the guest's tap device, so they need the nwfilter
driver (``libvirt-daemon-driver-nwfilter``) and ``ebtables``, and no bridge netfilter. A filter is
redefined in place when the hall's networks change: libvirt re-applies it to every running NIC that
references it. :func:`set_interface_filters` attaches filters to an existing domain's NICs (live and
in its persistent definition), for desktops defined before they had one.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Literal

import libvirt

from vdi.conn import libvirt_errors
from vdi.exceptions import Conflict, InvalidSpec
from vdi.models import FilterRule, Network, NetworkFilter, differences
from vdi.render import interface_xml, nwfilter_xml, parse_domain, parse_nwfilter

__all__ = [
    "delete_nwfilter",
    "ensure_nwfilter",
    "get_nwfilter",
    "isolation_filter",
    "lookup_nwfilter",
    "set_interface_filters",
]

Outcome = Literal["created", "updated", "unchanged"]

# rule priorities: lower runs first
DROP_OTHER_NETWORKS = 100
ACCEPT_OWN_NETWORK = 200
DROP_EVERYTHING_ELSE = 900

NO_DRIVER_FIX = "install libvirt-daemon-driver-nwfilter and restart libvirtd (`make setup` does both)"
LINK_LOCAL_MULTICAST = ipaddress.IPv4Network("224.0.0.0/24")
LIMITED_BROADCAST = ipaddress.IPv4Network("255.255.255.255/32")


def _label(name: str) -> str:
    return f"network filter {name}"


def _subnet(cidr: str, label: str) -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(cidr, strict=False)
    except ValueError as exc:
        raise InvalidSpec(
            label, f"{cidr!r} is not an IPv4 subnet ({exc})", "give subnets as 10.1.2.0/24"
        ) from exc


def _rule(action: Literal["accept", "drop"], priority: int, net: ipaddress.IPv4Network | None) -> FilterRule:
    if net is None:
        return FilterRule(action, "out", priority)
    return FilterRule(action, "out", priority, str(net.network_address), net.prefixlen)


def isolation_filter(name: str, network: Network, other_subnets: Iterable[str]) -> NetworkFilter:
    """The filter for NICs on ``network``: nothing to ``other_subnets`` (the hall's other networks);
    on an isolated network with a subnet, nothing beyond its own subnet either."""
    label = _label(name)
    own = None
    if network.ip is not None:
        own = _subnet(f"{network.ip.address}/{network.ip.prefix}", label)
    others = sorted({_subnet(cidr, label) for cidr in other_subnets})
    for other in others:
        if own is not None and other.overlaps(own):
            raise InvalidSpec(
                label,
                f"network {network.name} ({own}) overlaps {other}, which its guests must not reach",
                "give each network its own subnet",
            )
    rules = [_rule("drop", DROP_OTHER_NETWORKS, other) for other in others]
    if network.forward == "isolated" and own is not None:
        rules += [
            _rule("accept", ACCEPT_OWN_NETWORK, own),
            _rule("accept", ACCEPT_OWN_NETWORK, LIMITED_BROADCAST),
            _rule("accept", ACCEPT_OWN_NETWORK, LINK_LOCAL_MULTICAST),
            _rule("drop", DROP_EVERYTHING_ELSE, None),
        ]
    return NetworkFilter(name=name, rules=rules)


# -- operations ----------------------------------------------------------------------------------------


def lookup_nwfilter(conn: libvirt.virConnect, name: str) -> libvirt.virNWFilter | None:
    try:
        return conn.nwfilterLookupByName(name)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_NWFILTER:
            return None
        raise


def get_nwfilter(conn: libvirt.virConnect, name: str) -> NetworkFilter | None:
    with libvirt_errors(_label(name), "read the network filter", NO_DRIVER_FIX):
        flt = lookup_nwfilter(conn, name)
        return None if flt is None else parse_nwfilter(flt.XMLDesc(0))


def ensure_nwfilter(conn: libvirt.virConnect, want: NetworkFilter) -> Outcome:
    """Make filter ``want.name`` exist with these rules. A filter of that name with other rules is
    redefined (libvirt re-applies it to the running NICs that reference it): the hall's set of
    networks decides the rules, and they change when a network is added."""
    label = _label(want.name)
    with libvirt_errors(label, "look up the network filter", NO_DRIVER_FIX):
        existing = lookup_nwfilter(conn, want.name)
    if existing is not None:
        with libvirt_errors(label, "read the network filter"):
            have = parse_nwfilter(existing.XMLDesc(0))
        if not differences(want, have):
            return "unchanged"
        # keep the UUID: libvirt refuses a redefinition under the same name with another UUID
        want = NetworkFilter(name=want.name, chain=want.chain, rules=want.rules, uuid=have.uuid)
    with libvirt_errors(label, "define the network filter", "correct the rules"):
        conn.nwfilterDefineXML(nwfilter_xml(want))
    return "created" if existing is None else "updated"


def delete_nwfilter(conn: libvirt.virConnect, name: str) -> bool:
    """Undefine filter ``name``; False if it did not exist. libvirt refuses while a running NIC uses
    it, but not while only a stopped domain's definition does: remove such domains first."""
    label = _label(name)
    with libvirt_errors(label, "delete the network filter", "remove the desktops that use it first"):
        flt = lookup_nwfilter(conn, name)
        if flt is None:
            return False
        flt.undefine()
    return True


def set_interface_filters(conn: libvirt.virConnect, domain: str, filters: Mapping[str, str | None]) -> int:
    """Reference ``filters[network]`` from each of ``domain``'s NICs on ``network`` (None removes the
    reference), in the persistent definition and, when running, live. Returns how many NICs changed.

    A NIC whose filter cannot be applied is left as it was and the error names it.
    """
    label = f"domain {domain}"
    with libvirt_errors(label, "look up the domain"):
        dom = conn.lookupByName(domain)
        persistent = parse_domain(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
        live = parse_domain(dom.XMLDesc(0)) if dom.isActive() else None
    changed = 0
    for nic in persistent.interfaces:
        if nic.type != "network" or nic.source not in filters or nic.filter == filters[nic.source]:
            continue
        nic.filter = filters[nic.source]
        flags = libvirt.VIR_DOMAIN_AFFECT_CONFIG
        if live is not None and any(n.mac == nic.mac for n in live.interfaces):
            flags |= libvirt.VIR_DOMAIN_AFFECT_LIVE
        with libvirt_errors(
            label,
            f"set network filter {nic.filter} on the NIC {nic.mac} ({nic.source})",
            "check that the filter exists (`virsh nwfilter-list`)",
        ):
            dom.updateDeviceFlags(interface_xml(nic), flags)
        changed += 1
    if live is not None:
        _check_live(dom, filters, label)
    return changed


def _check_live(dom: libvirt.virDomain, filters: Mapping[str, str | None], label: str) -> None:
    for nic in parse_domain(dom.XMLDesc(0)).interfaces:
        if nic.type == "network" and nic.source in filters and nic.filter != filters[nic.source]:
            raise Conflict(
                label,
                f"the running NIC {nic.mac} on {nic.source} has filter {nic.filter}, "
                f"not {filters[nic.source]}",
                "restart the domain so that it runs its persistent definition",
            )
