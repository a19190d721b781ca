"""Idempotent operations on libvirt networks (isolated, NAT, bridge).

``ensure_network`` creates a network if absent, accepts one that already matches and refuses one of
the same name with a different definition. A network it fails to start is undefined again, so a
failed ensure leaves nothing behind.
"""

from __future__ import annotations

from typing import Literal

import libvirt

from vdi.conn import inactive_xml, libvirt_errors
from vdi.exceptions import Conflict, VdiError
from vdi.models import Network, differences
from vdi.render import network_xml, parse_network

__all__ = ["Outcome", "delete_network", "ensure_network", "get_network", "lookup_network"]


Outcome = Literal["created", "unchanged"]


def _label(name: str) -> str:
    return f"network {name}"


def lookup_network(conn: libvirt.virConnect, name: str) -> libvirt.virNetwork | None:
    try:
        return conn.networkLookupByName(name)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_NETWORK:
            return None
        raise


def get_network(conn: libvirt.virConnect, name: str) -> Network | None:
    with libvirt_errors(_label(name), "read the network"):
        net = lookup_network(conn, name)
        return None if net is None else parse_network(inactive_xml(net, libvirt.VIR_NETWORK_XML_INACTIVE))


def ensure_network(conn: libvirt.virConnect, want: Network) -> Outcome:
    """Make network ``want.name`` exist with this definition and be active."""
    label = _label(want.name)
    with libvirt_errors(label, "look up the network"):
        existing = lookup_network(conn, want.name)
    if existing is not None:
        with libvirt_errors(label, "read the network"):
            have = parse_network(inactive_xml(existing, libvirt.VIR_NETWORK_XML_INACTIVE))
        diffs = differences(want, have)
        if diffs:
            raise Conflict(
                label,
                f"exists with a different definition ({'; '.join(diffs)})",
                f"delete it (`virsh net-destroy {want.name}; virsh net-undefine {want.name}`) or choose "
                "another name",
            )
        with libvirt_errors(label, "start the network"):
            if not existing.isActive():
                existing.create()
        return "unchanged"
    with libvirt_errors(label, "define the network", "correct the definition"):
        net = conn.networkDefineXML(network_xml(want))
    try:
        with libvirt_errors(
            label, "start the network", "check that the bridge exists (bridge mode) or the subnet is free"
        ):
            net.create()
    except VdiError:
        _undefine_quietly(net)
        raise
    return "created"


def delete_network(conn: libvirt.virConnect, name: str) -> bool:
    """Stop and undefine network ``name``; False if it did not exist."""
    label = _label(name)
    with libvirt_errors(label, "delete the network"):
        net = lookup_network(conn, name)
        if net is None:
            return False
        if net.isActive():
            net.destroy()
        if net.isPersistent():
            net.undefine()
    return True


def _undefine_quietly(net: libvirt.virNetwork) -> None:
    try:
        if net.isActive():
            net.destroy()
        net.undefine()
    except libvirt.libvirtError:
        pass
